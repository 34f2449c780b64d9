-- The audit listing filtered by outcome (the rare ones an operator looks for: errors, refusals,
-- unavailability) walks this index newest first instead of the whole table: at 10,000,000 rows an
-- operator's `outcome=unavailable` page read hundreds of thousands of rows without it.
create index gateway_audit_outcome_idx on gateway_audit (outcome, id);
