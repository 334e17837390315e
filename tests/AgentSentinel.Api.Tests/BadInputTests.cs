using System.Net.Http.Json;
using System.Text;
using AgentSentinel.Core.Auth;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests;

public sealed class SqliteBadInputTests(SqliteAppFixture fixture) : BadInputTests(fixture), IClassFixture<SqliteAppFixture>;

public sealed class PostgresBadInputTests(PostgresAppFixture fixture) : BadInputTests(fixture), IClassFixture<PostgresAppFixture>;

/// <summary>Every kind of bad input gets a 4xx problem with a clear detail, never a 500, and changes nothing.</summary>
public abstract class BadInputTests(AppFixture fixture)
{
    private AgentSentinelApp App => fixture.App;
    private static CancellationToken Ct => Http.Ct;

    public static TheoryData<string, string> BadCreateBodies => new()
    {
        { "{", "not valid JSON" },
        { "[]", "JSON object" },
        { "\"text\"", "JSON object" },
        { "{}", "action_name" },
        { """{"action_name": "a", "action_name": "b"}""", "not valid JSON" },
        { """{"action_name": "a", "context": {"k": 1, "k": 2}}""", "not valid JSON" },
        { """{"action_name": "a", "\ud800": 1, "\ud800": 2}""", "not valid JSON" },
        { """{"action_name": "a\ud800b"}""", "lone UTF-16 surrogate" },
        { """{"action_name": "a", "context": {"note": ["\udfff"]}}""", "lone UTF-16 surrogate" },
        { """{"action_name": null}""", "action_name" },
        { """{"action_name": ""}""", "action_name" },
        { """{"action_name": 42}""", "must be a string" },
        { $$"""{"action_name": "{{new string('a', 201)}}"}""", "limit is 200" },
        { """{"action_name": "a\u0000b"}""", "NUL" },
        { """{"action_name": "x", "priority": "urgent"}""", "priority" },
        { """{"action_name": "x", "priority": 1}""", "must be a string" },
        { """{"action_name": "x", "risk_level": "extreme"}""", "risk_level" },
        { """{"action_name": "x", "estimated_cost": "ten"}""", "must be a number" },
        { """{"action_name": "x", "estimated_cost": -1}""", "estimated_cost" },
        { """{"action_name": "x", "estimated_cost": 1e400}""", "estimated_cost" },
        { """{"action_name": "x", "timeout_seconds": 0}""", "timeout_seconds" },
        { """{"action_name": "x", "timeout_seconds": 1.5}""", "whole number" },
        { """{"action_name": "x", "timeout_seconds": "60"}""", "whole number" },
        { """{"action_name": "x", "timeout_seconds": 99999999}""", "timeout_seconds" },
        { """{"action_name": "x", "action_inputs": [1, 2]}""", "JSON object" },
        { """{"action_name": "x", "action_inputs": "text"}""", "JSON object" },
        { """{"action_name": "x", "context": 5}""", "JSON object" },
        { """{"action_name": "x", "callback_url": "not a url"}""", "callback_url" },
        { """{"action_name": "x", "callback_url": "ftp://example.com/x"}""", "callback_url" },
        { """{"action_name": "x", "callback_url": "https://user:pw@example.com/"}""", "credentials" },
        { """{"action_name": "x", "agent_id": ["a"]}""", "must be a string" },
        { """{"action_name": "x", "action_description": {"a": 1}}""", "must be a string" },
    };

    [Theory]
    [MemberData(nameof(BadCreateBodies))]
    public async Task Malformed_create_bodies_get_a_400_naming_the_problem_and_store_nothing(string body, string detail)
    {
        using var admin = App.Client();
        var before = await CountAsync(admin);
        var response = await admin.PostRawAsync("/api/v1/approvals", body);
        await response.AssertProblemAsync(HttpStatusCode.BadRequest, detail);
        Assert.Equal(before, await CountAsync(admin));
    }

    public static TheoryData<string, string> ControlCharacterNames => new()
    {
        { "action_name", "wire\r\n2026-01-01 INFO Approval approved by cfo@example.com" },
        { "action_name", "wire\u001b[2Jcleared" },
        { "agent_id", "agent\tseven" },
        { "run_id", "run\u0085next" },
        { "task_id", "task\u2028next" },
        { "mission_id", "mission\u202eesrever" },
        { "agent_id", "agent\u007f" },
    };

    [Theory]
    [MemberData(nameof(ControlCharacterNames))]
    public async Task Names_and_ids_with_control_characters_are_refused_with_a_400_naming_the_field(string field, string value)
    {
        using var admin = App.Client();
        var before = await CountAsync(admin);
        var body = new System.Text.Json.Nodes.JsonObject { ["action_name"] = "wire", [field] = value };
        var response = await admin.PostRawAsync("/api/v1/approvals", body.ToJsonString());
        await response.AssertProblemAsync(HttpStatusCode.BadRequest, $"'{field}' must not contain control characters");
        Assert.Equal(field, (await response.Json()).Str("field"));
        Assert.Equal(before, await CountAsync(admin));

        var query = field is "agent_id" or "run_id" ? $"action_name=wire&{field}=" : "action_name=";
        var check = await admin.PostAsync($"/api/v1/approvals/check?{query}{Uri.EscapeDataString(value)}", null, Ct);
        await check.AssertProblemAsync(HttpStatusCode.BadRequest, "control characters");
    }

    [Fact]
    public async Task Descriptions_keep_their_line_breaks_and_key_names_refuse_them()
    {
        using var admin = App.Client();
        var created = await admin.CreateApprovalAsync(new { action_name = "wire", action_description = "line one\nline two\ttabbed" });
        Assert.Equal("line one\nline two\ttabbed", created.Str("action_description"));

        var key = await admin.PostJsonAsync("/api/v1/admin/api-keys", new { name = "ops\nINFO forged", scopes = new[] { "agent" } });
        await key.AssertProblemAsync(HttpStatusCode.BadRequest, "'name' must not contain control characters");
        var email = await admin.PostJsonAsync("/api/v1/admin/api-keys", new { name = "ops", email = "a\r\n@example.com", scopes = new[] { "approver" } });
        await email.AssertProblemAsync(HttpStatusCode.BadRequest, "'email' must not contain control characters");
    }

    [Fact]
    public async Task Deeply_nested_json_is_refused_with_400()
    {
        using var admin = App.Client();
        var nested = new StringBuilder("""{"action_name": "x", "action_inputs": """);
        for (var i = 0; i < 200; i++)
        {
            nested.Append("{\"a\":");
        }
        nested.Append('1').Append('}', 200).Append('}');
        await (await admin.PostRawAsync("/api/v1/approvals", nested.ToString())).AssertProblemAsync(HttpStatusCode.BadRequest, "JSON");
    }

    [Fact]
    public async Task Oversize_bodies_get_413_and_oversize_inputs_get_400()
    {
        using var admin = App.Client();
        var huge = $$"""{"action_name": "x", "action_description": "{{new string('d', 300_000)}}"}""";
        await (await admin.PostRawAsync("/api/v1/approvals", huge)).AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge, "limit");
        var bigInputs = $$$"""{"action_name": "x", "action_inputs": {"blob": "{{{new string('i', 70_000)}}}"}}""";
        await (await admin.PostRawAsync("/api/v1/approvals", bigInputs)).AssertProblemAsync(HttpStatusCode.BadRequest, "action_inputs");
    }

    [Fact]
    public async Task A_body_that_is_not_json_gets_415()
    {
        using var admin = App.Client();
        await (await admin.PostRawAsync("/api/v1/approvals", "action_name=x", "application/x-www-form-urlencoded")).AssertProblemAsync(HttpStatusCode.UnsupportedMediaType);
    }

    [Theory]
    [InlineData("not-a-uuid")]
    [InlineData("1234")]
    [InlineData("%27%3B%20DROP%20TABLE%20approvals")]
    public async Task Malformed_ids_get_400(string id)
    {
        using var admin = App.Client();
        foreach (var path in new[] { $"/api/v1/approvals/{id}", $"/api/v1/approvals/{id}/poll", $"/api/v1/approvals/{id}/wait?timeout_seconds=0" })
        {
            await (await admin.GetAsync(path, Ct)).AssertProblemAsync(HttpStatusCode.BadRequest, "not an approval id");
        }
        await (await admin.PostJsonAsync($"/api/v1/approvals/{id}/approve", null)).AssertProblemAsync(HttpStatusCode.BadRequest);
        await (await admin.PostJsonAsync($"/api/v1/approvals/{id}/cancel", null)).AssertProblemAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Unknown_ids_get_404()
    {
        using var admin = App.Client();
        var id = Guid.CreateVersion7();
        await (await admin.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).AssertProblemAsync(HttpStatusCode.NotFound, id.ToString());
        await (await admin.PostJsonAsync($"/api/v1/approvals/{id}/approve", null)).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await admin.PostJsonAsync($"/api/v1/approvals/{id}/respond", new { response = "x" })).AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Bad_decision_bodies_change_nothing()
    {
        using var agent = App.Client(await App.CreateKeyAsync("agent", [Scopes.Agent]));
        using var approver = App.Client(await App.CreateKeyAsync("approver", [Scopes.Approver], "q@example.com"));
        var id = (await agent.CreateApprovalAsync()).Id();
        await (await approver.PostRawAsync($"/api/v1/approvals/{id}/approve", "{notes")).AssertProblemAsync(HttpStatusCode.BadRequest);
        await (await approver.PostRawAsync($"/api/v1/approvals/{id}/approve", """{"notes": 5}""")).AssertProblemAsync(HttpStatusCode.BadRequest, "notes");
        await (await approver.PostRawAsync($"/api/v1/approvals/{id}/reject", """{"reason": ["a"]}""")).AssertProblemAsync(HttpStatusCode.BadRequest, "reason");
        await (await approver.PostRawAsync($"/api/v1/approvals/{id}/request-info", $$"""{"question": "{{new string('q', 10_001)}}"}""")).AssertProblemAsync(HttpStatusCode.BadRequest, "limit");
        await (await agent.PostRawAsync($"/api/v1/approvals/{id}/respond", """{"response": 1}""")).AssertProblemAsync(HttpStatusCode.BadRequest, "response");
        var poll = await (await agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).Json();
        Assert.Equal("pending", poll.Str("status"));
        Assert.Equal(1, poll["version"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("""{"routes": "x"}""", "routes")]
    [InlineData("""{"routes": [{"name": "a", "unknown_field": 1}]}""", "unknown_field")]
    [InlineData("""{"routes": [{"name": "a", "reminders_minutes": "five"}]}""", "reminders_minutes")]
    [InlineData("""{"nothing": []}""", "routes")]
    public async Task Malformed_route_documents_get_400_and_change_nothing(string body, string detail)
    {
        using var admin = App.Client();
        var before = await admin.GetStringAsync("/api/v1/admin/routes", Ct);
        var response = await admin.PutAsync("/api/v1/admin/routes", new StringContent(body, Encoding.UTF8, "application/json"), Ct);
        await response.AssertProblemAsync(HttpStatusCode.BadRequest, detail);
        Assert.Equal(before, await admin.GetStringAsync("/api/v1/admin/routes", Ct));
    }

    [Theory]
    [InlineData("""{"policy": {"min_timeout_seconds": 0}}""", "min_timeout_seconds")]
    [InlineData("""{"policy": {"approval_required_risk_levels": ["severe"]}}""", "severe")]
    [InlineData("""{"policy": {"approval_cost_threshold_usd": "lots"}}""", "approval_cost_threshold_usd")]
    [InlineData("""{"policy": []}""", "policy")]
    public async Task Malformed_policy_documents_get_400_and_change_nothing(string body, string detail)
    {
        using var admin = App.Client();
        var before = await admin.GetStringAsync("/api/v1/admin/policy", Ct);
        var response = await admin.PutAsync("/api/v1/admin/policy", new StringContent(body, Encoding.UTF8, "application/json"), Ct);
        await response.AssertProblemAsync(HttpStatusCode.BadRequest, detail);
        Assert.Equal(before, await admin.GetStringAsync("/api/v1/admin/policy", Ct));
    }

    [Fact]
    public async Task Odd_unicode_is_stored_and_returned_exactly()
    {
        using var admin = App.Client();
        const string text = "Zahlung 💸 an «Müller» \u202Egnp.exe\u202C 𝕏 \uFEFF";
        var created = await admin.CreateApprovalAsync(new { action_name = "pay", action_description = text, action_inputs = new { emoji = "🧾" } });
        var detail = await (await admin.GetAsync($"/api/v1/approvals/{created.Id()}", Ct)).Json();
        Assert.Equal(text, detail.Str("action_description"));
        Assert.Equal("🧾", detail["action_inputs"]!["emoji"]!.GetValue<string>());
    }

    private static async Task<int> CountAsync(HttpClient admin)
    {
        var page = await (await admin.GetAsync("/api/v1/approvals?limit=200", Ct)).Json();
        return page["items"]!.AsArray().Count;
    }
}
