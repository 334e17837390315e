#!/usr/bin/env python3
"""An agent that speaks to the server exactly as the public `agentsentinel-sdk` ApprovalClient does.

Standard library only, so it runs wherever python3 does. Each call mirrors the SDK's: the `Authorization: ApiKey`
header, the create body with every key present (nulls where unset), exact success codes (201 on create, 200
elsewhere), no redirects, a 10 s timeout, and the SDK's parsing of the answer: `ApprovalStatus(data["status"])` on
lowercase values and `datetime.fromisoformat(decided_at.replace("Z", "+00:00"))`, which on Python 3.9/3.10 only
accepts 0, 3 or 6 fractional digits, so the timestamp format is checked strictly here whatever Python runs this.

Usage: sdk_wire_client.py BASE_URL AGENT_KEY APPROVER_KEY
Prints one line per scenario and exits non-zero on the first failure.
"""
import json
import re
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from enum import Enum


class ApprovalStatus(str, Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    INFO_REQUESTED = "info_requested"


WIRE_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


class Client:
    def __init__(self, base_url, token):
        self.base_url = base_url.rstrip("/")
        self.token = token

    def call(self, method, path, body=None, expect=200):
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Authorization", f"ApiKey {self.token}")
        if method == "POST":
            request.add_header("Content-Type", "application/json")
        try:
            with OPENER.open(request, timeout=10.0) as response:
                status, text = response.status, response.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode("utf-8")
        if status != expect:
            raise AssertionError(f"{method} {path}: expected {expect}, got {status}: {text}")
        return json.loads(text) if text else None

    # --- the SDK's calls ---------------------------------------------------------------------------------------
    def submit_request(self, action_name, description=None, agent_id=None, run_id=None, estimated_cost_usd=0.0,
                       risk_level="medium", priority="medium", timeout_seconds=3600, action_inputs=None, context=None):
        body = {
            "action_name": action_name,
            "action_description": description,
            "agent_id": agent_id,
            "run_id": run_id,
            "task_id": None,
            "mission_id": None,
            "estimated_cost": float(estimated_cost_usd),
            "risk_level": risk_level,
            "priority": priority,
            "timeout_seconds": int(timeout_seconds),
            "action_inputs": action_inputs,
            "context": context,
            "callback_url": None,
        }
        return str(self.call("POST", "/api/v1/approvals", body, expect=201)["id"])

    def poll_status(self, approval_id):
        return parse_response(self.call("GET", f"/api/v1/approvals/{approval_id}/poll"))

    def cancel_request(self, approval_id):
        return self.call("POST", f"/api/v1/approvals/{approval_id}/cancel")

    def respond_to_info_request(self, approval_id, response_text):
        return self.call("POST", f"/api/v1/approvals/{approval_id}/respond", {"response": response_text})

    def check_approval_required(self, action_name, cost_usd=0.0):
        query = urllib.parse.urlencode({"action_name": action_name, "cost_usd": cost_usd})
        return self.call("POST", f"/api/v1/approvals/check?{query}")


def parse_response(data):
    """What the SDK's ApprovalResponse.from_dict reads, parsed the same way."""
    status = ApprovalStatus(data.get("status", "pending"))
    decided_at = data.get("decided_at")
    if decided_at is not None:
        if not WIRE_TIMESTAMP.match(decided_at):
            raise AssertionError(f"decided_at {decided_at!r} is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
        decided_at = datetime.fromisoformat(decided_at.replace("Z", "+00:00"))
    for field in ("created_at", "expires_at"):
        if not WIRE_TIMESTAMP.match(data[field]):
            raise AssertionError(f"{field} {data[field]!r} is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
    return {
        "approval_id": str(data.get("id", data.get("approval_id", ""))),
        "status": status,
        "decided_at": decided_at,
        "approver_email": data.get("decided_by_email"),
        "approver_notes": data.get("decision_notes"),
        "info_request_message": data.get("info_request_message"),
    }


def wait_for(client, approval_id, timeout=15.0, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        response = client.poll_status(approval_id)
        if response["status"] not in (ApprovalStatus.PENDING,):
            return response
        time.sleep(interval)
    raise AssertionError(f"{approval_id} still pending after {timeout} s")


def main(base_url, agent_key, approver_key):
    agent = Client(base_url, agent_key)
    approver = Client(base_url, approver_key)

    # Approved, with notes and the approver's email.
    a = agent.submit_request("execute_trade", "Execute trade: Buy 100 shares AAPL", "trading-agent", "run-789",
                             15000.0, timeout_seconds=600, action_inputs={"symbol": "AAPL", "quantity": 100, "side": "BUY"})
    assert agent.poll_status(a)["status"] is ApprovalStatus.PENDING
    approver.call("POST", f"/api/v1/approvals/{a}/approve", {"notes": "Part of rebalancing"})
    r = wait_for(agent, a)
    assert r["status"] is ApprovalStatus.APPROVED, r
    assert r["approver_notes"] == "Part of rebalancing", r
    assert r["approver_email"], r
    assert r["decided_at"].tzinfo is not None
    print("approved: ok")

    # Rejected, with the reason as decision_notes.
    b = agent.submit_request("delete_customer_data", "Delete all data for customer #12345", priority="critical",
                             timeout_seconds=300, action_inputs={"customer_id": 12345})
    approver.call("POST", f"/api/v1/approvals/{b}/reject", {"reason": "Legal hold"})
    r = wait_for(agent, b)
    assert r["status"] is ApprovalStatus.REJECTED and r["approver_notes"] == "Legal hold", r
    print("rejected: ok")

    # Expired: no answer means expired, never approved.
    c = agent.submit_request("modify_pricing", "Update product pricing", risk_level="high", timeout_seconds=1)
    r = wait_for(agent, c, timeout=10)
    assert r["status"] is ApprovalStatus.EXPIRED, r
    print("expired: ok")

    # Info requested, answered, then approved.
    d = agent.submit_request("send_customer_email", "Send promotional email to 10,000 customers", estimated_cost_usd=50.0)
    approver.call("POST", f"/api/v1/approvals/{d}/request-info", {"question": "Which segment?"})
    r = wait_for(agent, d)
    assert r["status"] is ApprovalStatus.INFO_REQUESTED and r["info_request_message"] == "Which segment?", r
    agent.respond_to_info_request(d, "Additional context: opted-in customers only")
    assert agent.poll_status(d)["status"] is ApprovalStatus.PENDING
    approver.call("POST", f"/api/v1/approvals/{d}/approve", {})
    assert wait_for(agent, d)["status"] is ApprovalStatus.APPROVED
    print("info requested and answered: ok")

    # Cancelled by the agent, with an empty body.
    e = agent.submit_request("transfer_funds", "Transfer funds between customer accounts", estimated_cost_usd=0.10)
    agent.cancel_request(e)
    assert agent.poll_status(e)["status"] is ApprovalStatus.CANCELLED
    print("cancelled: ok")

    # The policy check answers with requires_approval.
    check = agent.check_approval_required("transfer_funds", 0.10)
    assert isinstance(check["requires_approval"], bool), check
    print("check: ok")


if __name__ == "__main__":
    import urllib.parse  # noqa: E402  (used by check_approval_required)
    main(*sys.argv[1:4])
