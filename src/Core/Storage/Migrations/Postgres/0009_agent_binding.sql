-- The agent ids an API key may use at intake (a JSON array; NULL: only the key's name).
ALTER TABLE api_keys ADD COLUMN agent_ids text;
-- The requesting key's name as it was when the request was made, shown beside the agent id the request claims.
ALTER TABLE approvals ADD COLUMN requester_key_name text;
-- The route as it was when the request was made (JSON): reminders and escalation follow it, not later route changes.
-- NULL for requests made before this version, which follow the route of that name in the current route table.
ALTER TABLE approvals ADD COLUMN route_plan text;
