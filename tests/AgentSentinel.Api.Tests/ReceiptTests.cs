using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Api.Tests;

public sealed class SqliteReceiptTests() : ReceiptTests(StorageProvider.Sqlite);

public sealed class PostgresReceiptTests() : ReceiptTests(StorageProvider.Postgres);

/// <summary>Signed approval receipts through the real API, checked the way an outside verifier checks them: the JWKS
/// fetched anonymously, the ES256 signature verified with the listed key, and the claims compared with the request.</summary>
public abstract class ReceiptTests(StorageProvider provider)
{
    private static CancellationToken Ct => Http.Ct;

    // The inputs as the agent writes them, and their RFC 8785 canonical form, written out by hand.
    private static readonly JsonNode Inputs = JsonNode.Parse("""{ "to": "ACC-2", "amount": 2500.00, "from": "ACC-1", "memo": "Café <rent> & more" }""")!;
    private const string CanonicalInputs = """{"amount":2500,"from":"ACC-1","memo":"Café <rent> & more","to":"ACC-2"}""";
    private static string InputsHash => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(CanonicalInputs)));

    private sealed record Setup(AgentSentinelApp App, FakeTimeProvider Time, HttpClient Agent, string AgentKeyId, HttpClient Approver, HttpClient Admin) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await App.DisposeAsync();
    }

    private async Task<Setup> StartAsync(TestStorage? storage = null, IDictionary<string, string?>? settings = null)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var app = new AgentSentinelApp(storage ?? await TestStorage.CreateAsync(provider, "receipts"), time, settings: settings);
        var (agentKeyId, agentKey) = await app.CreateKeyWithIdAsync("payments-bot", [Scopes.Agent], agentIds: ["pay-*"]);
        var approverKey = await app.CreateKeyAsync("alice", [Scopes.Approver], "alice@example.com");
        return new Setup(app, time, app.Client(agentKey), agentKeyId, app.Client(approverKey), app.Client());
    }

    private static object Transfer(string risk = "high", int timeout = 600, string action = "transfer_funds") => new
    {
        action_name = action,
        agent_id = "pay-1",
        risk_level = risk,
        timeout_seconds = timeout,
        action_inputs = Inputs,
    };

    private static async Task<JsonNode> ApproveAsync(Setup s, object? body = null)
    {
        var created = await s.Agent.CreateApprovalAsync(body ?? Transfer());
        var response = await s.Approver.PostJsonAsync($"/api/v1/approvals/{created.Id()}/approve", new { notes = "ok" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Json();
    }

    [Fact]
    public async Task An_approved_request_carries_a_receipt_that_verifies_with_the_jwks_and_states_the_decision()
    {
        await using var s = await StartAsync();
        var approved = await ApproveAsync(s);
        var receipt = approved.Str("receipt")!;

        var jwks = await Jwks.FetchAsync(s.App.Client(key: null));
        var claims = Jwks.Verify(jwks, receipt);
        Assert.Equal(approved.Id(), claims.Str("approval_id"));
        Assert.Equal(approved.Id(), claims.Str("sub"));
        Assert.Equal("transfer_funds", claims.Str("action_name"));
        Assert.Equal("pay-1", claims.Str("agent_id"));
        Assert.Equal(InputsHash, claims.Str("action_inputs_sha256"));
        Assert.Equal("approved", claims.Str("decision"));
        Assert.Equal("alice@example.com", claims.Str("decided_by"));
        Assert.Equal(approved.Str("decided_by_key_id"), claims.Str("decided_by_key_id"));
        Assert.Equal(approved.Str("decided_via"), claims.Str("decided_via"));
        Assert.NotNull(claims.Str("decided_via"));
        Assert.Equal(approved["decided_at"]!.GetValue<string>(), claims.Str("decided_at"));
        Assert.Equal(approved["expires_at"]!.GetValue<string>(), claims.Str("deadline"));
        Assert.Null(claims["grant"]);
        Assert.Equal("agent-sentinel", claims.Str("iss"));
        Assert.Equal(s.Time.GetUtcNow().ToUnixTimeSeconds(), claims["iat"]!.GetValue<long>());

        // The same receipt in the poll object, the full object, the list and the receipt call, every time.
        var poll = await (await s.Agent.GetAsync($"/api/v1/approvals/{approved.Id()}/poll", Ct)).Json();
        Assert.Equal(receipt, poll.Str("receipt"));
        Assert.Equal(receipt, (await (await s.Agent.GetAsync($"/api/v1/approvals/{approved.Id()}", Ct)).Json()).Str("receipt"));
        var page = await (await s.Agent.GetAsync("/api/v1/approvals?status=approved", Ct)).Json();
        Assert.Equal(receipt, page["items"]!.AsArray().Single(i => i!.Id() == approved.Id())!.Str("receipt"));
        var byCall = await (await s.Agent.GetAsync($"/api/v1/approvals/{approved.Id()}/receipt", Ct)).Json();
        Assert.Equal(receipt, byCall.Str("receipt"));
        Assert.Equal(Jwks.Header(receipt).Str("kid"), byCall.Str("kid"));
        Assert.Equal("approved", byCall["claims"]!.Str("decision"));
        Assert.Equal("ES256", Jwks.Header(receipt).Str("alg"));
        Assert.Equal("approval-receipt+jwt", Jwks.Header(receipt).Str("typ"));
    }

    [Fact]
    public async Task A_tampered_receipt_does_not_verify()
    {
        await using var s = await StartAsync();
        var created = await s.Agent.CreateApprovalAsync(Transfer());
        var rejected = await (await s.Approver.PostJsonAsync($"/api/v1/approvals/{created.Id()}/reject", new { reason = "no" })).Json();
        var receipt = rejected.Str("receipt")!;
        var jwks = await Jwks.FetchAsync(s.App.Client(key: null));
        Assert.Equal("rejected", Jwks.Verify(jwks, receipt).Str("decision"));

        var parts = receipt.Split('.');
        var payload = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[1])).Replace("\"rejected\"", "\"approved\"", StringComparison.Ordinal);
        var forged = $"{parts[0]}.{Base64Url.EncodeToString(Encoding.UTF8.GetBytes(payload))}.{parts[2]}";
        Assert.Throws<CryptographicException>(() => Jwks.Verify(jwks, forged));

        // Another request's valid signature does not carry over either.
        var other = await ApproveAsync(s);
        var spliced = $"{parts[0]}.{parts[1]}.{other.Str("receipt")!.Split('.')[2]}";
        Assert.Throws<CryptographicException>(() => Jwks.Verify(jwks, spliced));
    }

    [Fact]
    public async Task An_open_request_has_no_receipt_and_others_cannot_read_one()
    {
        await using var s = await StartAsync();
        var created = await s.Agent.CreateApprovalAsync(Transfer());
        Assert.Null(created["receipt"]!);
        Assert.True(created.AsObject().ContainsKey("receipt"));
        await (await s.Agent.GetAsync($"/api/v1/approvals/{created.Id()}/receipt", Ct)).AssertProblemAsync(HttpStatusCode.Conflict, "pending");
        await (await s.Agent.GetAsync($"/api/v1/approvals/{Guid.NewGuid()}/receipt", Ct)).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await s.Agent.GetAsync("/api/v1/approvals/not-an-id/receipt", Ct)).AssertProblemAsync(HttpStatusCode.BadRequest);

        await s.Approver.PostJsonAsync($"/api/v1/approvals/{created.Id()}/approve", new { });
        using var stranger = s.App.Client(await s.App.CreateKeyAsync("stranger", [Scopes.Agent], agentIds: ["pay-1"]));
        await (await stranger.GetAsync($"/api/v1/approvals/{created.Id()}/receipt", Ct)).AssertProblemAsync(HttpStatusCode.NotFound);
        using var anonymous = s.App.Client(key: null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"/api/v1/approvals/{created.Id()}/receipt", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await s.Approver.GetAsync($"/api/v1/approvals/{created.Id()}/receipt", Ct)).StatusCode);
    }

    [Fact]
    public async Task Expired_and_cancelled_requests_get_receipts_that_state_their_outcome()
    {
        await using var s = await StartAsync();
        var expiring = await s.Agent.CreateApprovalAsync(Transfer(timeout: 60));
        var cancelled = await (await s.Agent.PostJsonAsync($"/api/v1/approvals/{(await s.Agent.CreateApprovalAsync(Transfer())).Id()}/cancel", null)).Json();
        s.Time.Advance(TimeSpan.FromSeconds(60));

        var jwks = await Jwks.FetchAsync(s.App.Client(key: null));
        var expired = await (await s.Agent.GetAsync($"/api/v1/approvals/{expiring.Id()}/poll", Ct)).Json();
        Assert.Equal("expired", expired.Str("status"));
        var expiredClaims = Jwks.Verify(jwks, expired.Str("receipt")!);
        Assert.Equal("expired", expiredClaims.Str("decision"));
        Assert.Equal("system", expiredClaims.Str("decided_by"));
        Assert.Equal(expiring["expires_at"]!.GetValue<string>(), expiredClaims.Str("decided_at"));

        var cancelledClaims = Jwks.Verify(jwks, cancelled.Str("receipt")!);
        Assert.Equal("cancelled", cancelledClaims.Str("decision"));
        Assert.Equal(s.AgentKeyId, cancelledClaims.Str("decided_by_key_id"));
        Assert.Equal(cancelled["decided_at"]!.GetValue<string>(), cancelledClaims.Str("decided_at"));
    }

    [Fact]
    public async Task A_request_approved_by_a_grant_has_a_receipt_naming_the_grant_and_its_giver()
    {
        await using var s = await StartAsync();
        // Not a transfer_*: the shipped policy floors those to high risk, where grants are not allowed by default.
        var source = await s.Agent.CreateApprovalAsync(Transfer(risk: "low", action: "pay_invoice"));
        var given = await (await s.Approver.PostJsonAsync($"/api/v1/approvals/{source.Id()}/approve",
            new { grant = new { minutes = 30, match = "action_and_inputs" } })).Json();
        var grantId = given["grant"]!.Id();
        Assert.Null(Jwks.Verify(await Jwks.FetchAsync(s.App.Client(key: null)), given.Str("receipt")!)["grant"]);

        var byGrant = await s.Agent.CreateApprovalAsync(Transfer(risk: "low", action: "pay_invoice"));
        Assert.Equal("approved", byGrant.Str("status"));
        var claims = Jwks.Verify(await Jwks.FetchAsync(s.App.Client(key: null)), byGrant.Str("receipt")!);
        Assert.Equal(grantId, claims["grant"]!.Str("id"));
        Assert.Equal("alice@example.com", claims["grant"]!.Str("granted_by"));
        Assert.Equal("alice@example.com", claims.Str("decided_by"));
        // The grant's inputs hash and the receipt's are one and the same hash.
        Assert.Equal(given["grant"]!.Str("inputs_hash"), claims.Str("action_inputs_sha256"));
        Assert.Equal(InputsHash, claims.Str("action_inputs_sha256"));
    }

    [Fact]
    public async Task Rotation_signs_new_receipts_with_a_new_key_and_old_receipts_still_verify()
    {
        var storage = await TestStorage.CreateAsync(provider, "receiptrotate");
        await using var s = await StartAsync(storage);
        var before = await ApproveAsync(s);
        var oldKid = Jwks.Header(before.Str("receipt")!).Str("kid");

        var rotated = await s.Admin.PostJsonAsync("/api/v1/admin/receipt-keys/rotate", null);
        Assert.Equal(HttpStatusCode.OK, rotated.StatusCode);
        var newKid = (await rotated.Json()).Str("kid");
        Assert.NotEqual(oldKid, newKid);
        await (await s.Approver.PostJsonAsync("/api/v1/admin/receipt-keys/rotate", null)).AssertProblemAsync(HttpStatusCode.Forbidden);

        // A second instance on the same database signs with the new key too.
        await using var second = new AgentSentinelApp(storage, s.Time);
        var created = await s.Agent.CreateApprovalAsync(Transfer());
        using var approverOnSecond = second.Client(s.Approver.DefaultRequestHeaders.Authorization!.Parameter);
        var after = await (await approverOnSecond.PostJsonAsync($"/api/v1/approvals/{created.Id()}/approve", new { })).Json();
        Assert.Equal(newKid, Jwks.Header(after.Str("receipt")!).Str("kid"));

        var jwks = await Jwks.FetchAsync(second.Client(key: null));
        Assert.Equal(new[] { oldKid, newKid }.Order(StringComparer.Ordinal), jwks["keys"]!.AsArray().Select(k => k!.Str("kid")).Order(StringComparer.Ordinal));
        Assert.Equal("approved", Jwks.Verify(jwks, after.Str("receipt")!).Str("decision"));
        // The old receipt is unchanged and still verifies.
        var reread = await (await s.Agent.GetAsync($"/api/v1/approvals/{before.Id()}/receipt", Ct)).Json();
        Assert.Equal(before.Str("receipt"), reread.Str("receipt"));
        Assert.Equal("approved", Jwks.Verify(jwks, reread.Str("receipt")!).Str("decision"));

        var keys = await (await s.Admin.GetAsync("/api/v1/admin/receipt-keys", Ct)).Json();
        Assert.Equal(newKid, keys["keys"]!.AsArray().Single(k => k!["current"]!.GetValue<bool>())!.Str("kid"));
        Assert.NotNull(keys["keys"]!.AsArray().Single(k => k!.Str("kid") == oldKid)!["retired_at"]);
        // Public information only, everywhere.
        foreach (var text in new[] { keys.ToJsonString(), jwks.ToJsonString() })
        {
            Assert.DoesNotContain("PRIVATE", text, StringComparison.Ordinal);
            Assert.DoesNotContain("\"d\"", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_configured_key_signs_and_a_newly_configured_key_leaves_the_old_one_listed()
    {
        using var first = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var second = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var storage = await TestStorage.CreateAsync(provider, "receiptconfigured");
        JsonNode before;
        string firstKid;
        await using (var s = await StartAsync(storage, new Dictionary<string, string?> { ["AgentSentinel:Receipts:SigningKey"] = first.ExportPkcs8PrivateKeyPem() }))
        {
            before = await ApproveAsync(s);
            firstKid = Jwks.Header(before.Str("receipt")!).Str("kid")!;
            Assert.Equal(Jwks.Thumbprint(first), firstKid);
            await (await s.Admin.PostJsonAsync("/api/v1/admin/receipt-keys/rotate", null)).AssertProblemAsync(HttpStatusCode.Conflict, "AgentSentinel:Receipts:SigningKey");
        }

        var settings = new Dictionary<string, string?> { ["AgentSentinel:Receipts:SigningKey"] = second.ExportPkcs8PrivateKeyPem() };
        await using var app = new AgentSentinelApp(storage, settings: settings);
        using var admin = app.Client();
        var created = await admin.CreateApprovalAsync(new { action_name = "transfer_funds", agent_id = "pay-2", timeout_seconds = 600 });
        using var approver = app.Client(await app.CreateKeyAsync("bob", [Scopes.Approver], "bob@example.com"));
        var after = await (await approver.PostJsonAsync($"/api/v1/approvals/{created.Id()}/approve", new { })).Json();
        Assert.Equal(Jwks.Thumbprint(second), Jwks.Header(after.Str("receipt")!).Str("kid"));

        var jwks = await Jwks.FetchAsync(app.Client(key: null));
        Assert.Equal("approved", Jwks.Verify(jwks, before.Str("receipt")!).Str("decision"));
        Assert.Equal("approved", Jwks.Verify(jwks, after.Str("receipt")!).Str("decision"));
    }

    [Fact]
    public async Task Inputs_without_a_canonical_form_are_refused_before_anything_is_stored()
    {
        await using var s = await StartAsync();
        var response = await s.Agent.PostRawAsync("/api/v1/approvals", """{"action_name":"transfer_funds","agent_id":"pay-1","action_inputs":{"amount":1e400}}""");
        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "receipt");
        var page = await (await s.Admin.GetAsync("/api/v1/approvals", Ct)).Json();
        Assert.Empty(page["items"]!.AsArray());
    }
}

/// <summary>An outside verifier of receipts: the JWKS as published, and ES256 verification with System.Security.Cryptography.</summary>
internal static class Jwks
{
    public static async Task<JsonNode> FetchAsync(HttpClient anonymous)
    {
        using (anonymous)
        {
            var response = await anonymous.GetAsync("/.well-known/jwks.json", Http.Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return await response.Json();
        }
    }

    public static JsonNode Header(string receipt) => JsonNode.Parse(Base64Url.DecodeFromChars(receipt.Split('.')[0]))!;

    /// <summary>The claims of a receipt whose signature verifies with the listed key of its kid; throws
    /// <see cref="CryptographicException"/> otherwise.</summary>
    public static JsonNode Verify(JsonNode jwks, string receipt)
    {
        var parts = receipt.Split('.');
        Assert.Equal(3, parts.Length);
        var header = Header(receipt);
        Assert.Equal("ES256", header.Str("alg"));
        var jwk = jwks["keys"]!.AsArray().SingleOrDefault(k => k!.Str("kid") == header.Str("kid"))
            ?? throw new CryptographicException($"kid {header.Str("kid")} is not in the JWKS");
        Assert.Equal("EC", jwk.Str("kty"));
        Assert.Equal("P-256", jwk.Str("crv"));
        using var key = ECDsa.Create(new ECParameters
        {
            Curve = ECCurve.NamedCurves.nistP256,
            Q = new ECPoint { X = Base64Url.DecodeFromChars(jwk.Str("x")), Y = Base64Url.DecodeFromChars(jwk.Str("y")) },
        });
        var signature = Base64Url.DecodeFromChars(parts[2]);
        if (!key.VerifyData(Encoding.ASCII.GetBytes($"{parts[0]}.{parts[1]}"), signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
        {
            throw new CryptographicException("the signature does not verify");
        }
        return JsonNode.Parse(Base64Url.DecodeFromChars(parts[1]))!;
    }

    /// <summary>The RFC 7638 thumbprint of a P-256 key, computed here independently of the server.</summary>
    public static string Thumbprint(ECDsa key)
    {
        var q = key.ExportParameters(false).Q;
        var members = $$"""{"crv":"P-256","kty":"EC","x":"{{Base64Url.EncodeToString(q.X)}}","y":"{{Base64Url.EncodeToString(q.Y)}}"}""";
        return Base64Url.EncodeToString(SHA256.HashData(Encoding.UTF8.GetBytes(members)));
    }
}
