-- `cloning` was never entered: a build's checkout is part of `building` (the build's log says when
-- the clone runs). The status vocabulary drops it; a row left in it, were there one, is building.

update mcp_servers set status = 'building' where status = 'cloning';
alter table mcp_servers drop constraint mcp_servers_status_check;
alter table mcp_servers add constraint mcp_servers_status_check check (status in (
  'creating', 'starting', 'building', 'ready', 'running', 'unhealthy', 'stopping', 'stopped',
  'redeploying', 'pending-governance', 'error', 'deleting',
  'provisioning', 'pending-attestation', 'blocked'));
