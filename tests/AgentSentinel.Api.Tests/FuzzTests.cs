using System.Net.Http.Json;
using System.Text;
using AgentSentinel.Core.Auth;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests;

public sealed class SqliteFuzzTests(SqliteAppFixture fixture) : FuzzTests(fixture), IClassFixture<SqliteAppFixture>;

public sealed class PostgresFuzzTests(PostgresAppFixture fixture) : FuzzTests(fixture), IClassFixture<PostgresAppFixture>;

/// <summary>A seeded fuzz run over the intake, decision and admin APIs: malformed JSON, wrong types, huge and deeply
/// nested values, odd Unicode. No answer is a 5xx, and nothing stored changes.</summary>
public abstract class FuzzTests(AppFixture fixture)
{
    private AgentSentinelApp App => fixture.App;
    private static CancellationToken Ct => Http.Ct;

    private static readonly string[] OddStrings =
    [
        "", " ", "\\u0000", "\\ud800", "\\udfff", "\\ud83d\\ude00", "\u202eevil", "\u200b", "e\u0301", "ǅ", "\uFEFF", "😀😀😀",
        "%00", "<script>alert(1)</script>", "' OR 1=1 --", "${jndi:ldap://x}", "@channel", "<!here>", "\\\\", "\\\"",
        new string('x', 5000), "null", "NaN", "-0", "1e309",
    ];

    private static readonly string[] OddValues =
    [
        "null", "true", "false", "0", "-1", "1.5", "1e309", "-1e309", "123456789012345678901234567890", "[]", "{}", "[[[[[]]]]]",
        "\"\"", "[1,\"a\",null]", "{\"a\":{\"b\":{\"c\":{}}}}",
    ];

    /// <summary>Text that is never a valid body for any endpoint here: broken JSON, wrong roots, deep nesting,
    /// huge values, or a required field of the wrong type.</summary>
    private static string BadBody(Random r, string requiredField)
    {
        switch (r.Next(10))
        {
            case 0:
                return "{\"" + requiredField + "\": " + new string('[', 1 + r.Next(3000)) + "1" + new string(']', r.Next(3000));
            case 1:
                return OddValues[r.Next(OddValues.Length)] is var v && v.StartsWith('{') ? "[" + v + "]" : v;
            case 2:
                return "{\"" + requiredField + "\": " + OddValues[r.Next(OddValues.Length)] + "}";
            case 3:
                return "{\"" + requiredField + "\": \"" + OddStrings[r.Next(OddStrings.Length)] + "\"" + new string(',', 1 + r.Next(2)) + "}";
            case 4:
                return "{\"" + requiredField + "\": \"" + new string('A', 300_000 + r.Next(1000)) + "\"}";
            case 5:
                var bytes = new byte[1 + r.Next(200)];
                r.NextBytes(bytes);
                return Encoding.Latin1.GetString(bytes);
            case 6:
                return "{\"" + requiredField + "\": \"ok\", \"" + requiredField + "\": \"ok\"" + "," + "\"x\":" + "\"\\u" + r.Next(0xffff).ToString("x3", System.Globalization.CultureInfo.InvariantCulture) + "\"}";
            case 7:
                return "{\"" + OddStrings[r.Next(OddStrings.Length)] + "\": " + OddValues[r.Next(OddValues.Length)] + ", \"" + requiredField + "\": {\"nested\": " + OddValues[r.Next(OddValues.Length)] + "}}";
            case 8:
                return "{\"" + requiredField + "\": \"a\\u" + (0xd800 + r.Next(0x800)).ToString("x4", System.Globalization.CultureInfo.InvariantCulture) + "b\"}";
            default:
                return "{\"" + requiredField + "\": " + r.Next() + "}";
        }
    }

    private static string OddSegment(Random r) => Uri.EscapeDataString(OddStrings[r.Next(OddStrings.Length)] is { Length: > 0 } s ? s[..Math.Min(s.Length, 300)] : "x");

    [Fact]
    public async Task A_seeded_fuzz_run_gets_no_5xx_and_changes_nothing_stored()
    {
        using var admin = App.Client();
        using var agent = App.Client(await App.CreateKeyAsync("fuzz agent", [Scopes.Agent]));
        using var approver = App.Client(await App.CreateKeyAsync("fuzz approver", [Scopes.Approver], "fuzz@example.com"));
        var target = (string)(await agent.CreateApprovalAsync())["id"]!;

        async Task<string> SnapshotAsync() => string.Join("\n",
            await admin.GetStringAsync("/api/v1/approvals?limit=200", Ct),
            await admin.GetStringAsync($"/api/v1/approvals/{target}", Ct),
            await admin.GetStringAsync("/api/v1/admin/api-keys", Ct),
            await admin.GetStringAsync("/api/v1/admin/routes", Ct),
            await admin.GetStringAsync("/api/v1/admin/policy", Ct));
        var before = await SnapshotAsync();

        var r = new Random(4242);
        var failures = new List<string>();
        for (var i = 0; i < 300; i++)
        {
            var (client, method, url, body) = r.Next(12) switch
            {
                0 or 1 or 2 => (agent, HttpMethod.Post, "/api/v1/approvals", BadBody(r, "action_name")),
                3 => (approver, HttpMethod.Post, $"/api/v1/approvals/{target}/reject", BadBody(r, "reason")),
                4 => (approver, HttpMethod.Post, $"/api/v1/approvals/{target}/request-info", BadBody(r, "question")),
                5 => (approver, HttpMethod.Post, $"/api/v1/approvals/{OddSegment(r)}/approve", BadBody(r, "notes")),
                6 => (agent, HttpMethod.Post, $"/api/v1/approvals/{target}/respond", BadBody(r, "response")),
                7 => (admin, HttpMethod.Post, "/api/v1/admin/api-keys", BadBody(r, "name")),
                8 => (admin, HttpMethod.Put, "/api/v1/admin/routes", BadBody(r, "routes")),
                9 => (admin, HttpMethod.Put, "/api/v1/admin/policy", BadBody(r, "min_timeout_seconds")),
                10 => (agent, HttpMethod.Get, $"/api/v1/approvals?status={OddSegment(r)}&limit={OddSegment(r)}&cursor={OddSegment(r)}&agent_id={OddSegment(r)}", null),
                _ => (agent, HttpMethod.Post, $"/api/v1/approvals/check?action_name={OddSegment(r)}&cost_usd={OddSegment(r)}&agent_id={OddSegment(r)}", null),
            };
            using var request = new HttpRequestMessage(method, url);
            if (body is not null)
            {
                request.Content = new StringContent(body, Encoding.UTF8, r.Next(10) == 0 ? "text/plain" : "application/json");
            }
            if (r.Next(6) == 0)
            {
                request.Headers.TryAddWithoutValidation("Idempotency-Key", OddStrings[r.Next(OddStrings.Length)]);
            }
            using var response = await client.SendAsync(request, Ct);
            var status = (int)response.StatusCode;
            var isQuery = method == HttpMethod.Get || url.Contains("/check", StringComparison.Ordinal);
            if (status >= 500 || (!isQuery && status < 400))
            {
                failures.Add($"{method} {url[..Math.Min(url.Length, 120)]} {body?[..Math.Min(body.Length, 120)]} -> {status} {await response.Content.ReadAsStringAsync(Ct)}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.Equal(before, await SnapshotAsync());
    }
}
