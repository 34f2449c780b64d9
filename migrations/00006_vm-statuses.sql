-- Virtual-machine servers (§9.4, §13): provisioning, waiting for attestation, or blocked by it.

alter table mcp_servers drop constraint mcp_servers_status_check;
alter table mcp_servers add constraint mcp_servers_status_check check (status in (
  'creating', 'starting', 'cloning', 'building', 'ready', 'running', 'unhealthy', 'stopping', 'stopped',
  'redeploying', 'pending-governance', 'error', 'deleting',
  'provisioning', 'pending-attestation', 'blocked'));
