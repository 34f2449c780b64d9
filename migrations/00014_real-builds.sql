-- Real builds (issue 19): how a server speaks MCP, and what a package build resolved.
-- null transport: a package source is stdio, a git source what its image declares.
alter table mcp_servers add column transport text check (transport in ('stdio', 'streamable-http'));
-- A package source's build records the exact package it built: registry name, the version the
-- requested version/range/tag resolved to, and the registry's integrity hash (npm `dist.integrity`,
-- the Go checksum database's `h1:` hash), so the artifact can be traced to the bytes it was made of.
alter table build_artifact_runs add column package_type text check (package_type in ('npm', 'pypi', 'go'));
alter table build_artifact_runs add column package_name text;
alter table build_artifact_runs add column package_version text;
alter table build_artifact_runs add column package_integrity text;
