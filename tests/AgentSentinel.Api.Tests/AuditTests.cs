using System.Security.Cryptography;
using System.Text;
using AgentSentinel.AuditVerify;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Audit;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using Microsoft.Extensions.Time.Testing;

namespace AgentSentinel.Api.Tests;

/// <summary>The tamper-evident audit: export, offline verification, a tampered byte named, retention with a signed
/// checkpoint that keeps the chain verifiable and the statistics unchanged.</summary>
public sealed class AuditTests
{
    private static CancellationToken Ct => Http.Ct;

    private static async Task<string> ExportAsync(HttpClient admin, string query = "")
    {
        var response = await admin.GetAsync("/api/v1/admin/audit" + query, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return text;
    }

    private static VerifyResult Verify(string export, ECDsa? key = null) => AuditVerifier.Verify(new StringReader(export), key);

    /// <summary>Changes one byte inside the line of the event with this seq: a character of its actor or kind.</summary>
    private static string Tamper(string export, long seq, bool csv)
    {
        var lines = export.Split('\n');
        var index = Array.FindIndex(lines, l => csv ? l.StartsWith($"\"event\",\"{seq}\",", StringComparison.Ordinal) : l.StartsWith($"{{\"seq\":{seq},", StringComparison.Ordinal));
        Assert.True(index >= 0, $"no line for seq {seq}");
        var line = lines[index];
        var at = line.IndexOf("approved", StringComparison.Ordinal) is >= 0 and var p ? p : line.IndexOf("created", StringComparison.Ordinal);
        Assert.True(at >= 0, line);
        var bytes = Encoding.UTF8.GetBytes(line);
        var offset = Encoding.UTF8.GetByteCount(line[..at]);
        bytes[offset] ^= 0x01;
        lines[index] = Encoding.UTF8.GetString(bytes);
        return string.Join('\n', lines);
    }

    [Theory]
    [InlineData(StorageProvider.Sqlite)]
    [InlineData(StorageProvider.Postgres)]
    public async Task An_export_verifies_and_one_changed_byte_is_named_by_its_event(StorageProvider provider)
    {
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "audit"));
        using var admin = app.Client();
        using var agent = app.Client(await app.CreateKeyAsync("audit-agent", [Scopes.Agent]));
        using var approver = app.Client(await app.CreateKeyAsync("audit-approver", [Scopes.Approver], "ann@example.com"));
        var a = (await agent.CreateApprovalAsync(new { action_name = "transfer_funds", timeout_seconds = 300, context = new { note = "quote \" comma , new\nline é" } })).Id();
        var b = (await agent.CreateApprovalAsync(new { action_name = "delete_records", timeout_seconds = 300 })).Id();
        Assert.Equal(HttpStatusCode.OK, (await approver.PostJsonAsync($"/api/v1/approvals/{a}/approve", new { notes = "fine, \"really\"" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await agent.PostJsonAsync($"/api/v1/approvals/{b}/cancel", null)).StatusCode);

        var ndjson = await ExportAsync(admin);
        var lines = ndjson.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.StartsWith("{\"seq\":1,", lines[0], StringComparison.Ordinal);
        var ok = Verify(ndjson);
        Assert.True(ok.Ok, ok.Message);
        Assert.Equal(4, ok.Events);

        var approvedSeq = Array.FindIndex(lines, l => l.Contains("\"kind\":\"approved\"", StringComparison.Ordinal)) + 1;
        var broken = Verify(Tamper(ndjson, approvedSeq, csv: false));
        Assert.False(broken.Ok);
        Assert.Equal(approvedSeq, broken.BrokenSeq);
        Assert.Contains($"event seq {approvedSeq} ", broken.Message, StringComparison.Ordinal);
        Assert.Contains(a, broken.Message, StringComparison.Ordinal);

        var csv = await ExportAsync(admin, "?format=csv");
        Assert.StartsWith(AgentSentinel.Api.Apis.AuditApi.CsvHeader + "\n", csv, StringComparison.Ordinal);
        var csvOk = Verify(csv);
        Assert.True(csvOk.Ok, csvOk.Message);
        Assert.Equal(4, csvOk.Events);
        var csvBroken = Verify(Tamper(csv, 1, csv: true));
        Assert.False(csvBroken.Ok);
        Assert.Equal(1, csvBroken.BrokenSeq);

        // A deleted line is a missing link.
        var gap = Verify(string.Join('\n', lines.Where((_, i) => i != 1)));
        Assert.False(gap.Ok);
        Assert.Equal(3, gap.BrokenSeq);

        // A window is a contiguous stretch; it verifies from its first link on.
        var later = await ExportAsync(admin, $"?from={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(5).ToString("O"))}&to={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(10).ToString("O"))}");
        Assert.Equal("", later);
    }

    [Fact]
    public async Task The_export_is_for_admins_and_refuses_bad_input()
    {
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "auditauth"));
        using var approver = app.Client(await app.CreateKeyAsync("audit-approver", [Scopes.Approver], "bob@example.com"));
        await (await approver.GetAsync("/api/v1/admin/audit", Ct)).AssertProblemAsync(HttpStatusCode.Forbidden);
        using var anonymous = app.Client(null);
        await (await anonymous.GetAsync("/api/v1/admin/audit", Ct)).AssertProblemAsync(HttpStatusCode.Unauthorized);
        using var admin = app.Client();
        await (await admin.GetAsync("/api/v1/admin/audit?format=xml", Ct)).AssertProblemAsync(HttpStatusCode.BadRequest, "format");
        await (await admin.GetAsync("/api/v1/admin/audit?from=yesterday", Ct)).AssertProblemAsync(HttpStatusCode.BadRequest, "ISO-8601");
        await (await admin.GetAsync("/api/v1/admin/audit?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", Ct)).AssertProblemAsync(HttpStatusCode.BadRequest, "after");
    }

    [Fact]
    public async Task Concurrent_writers_and_sealers_on_postgres_make_one_unbroken_chain()
    {
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Postgres, "auditrace"));
        using var admin = app.Client();
        using var agent = app.Client(await app.CreateKeyAsync("race-agent", [Scopes.Agent]));
        var audit = app.Service<AuditStore>();
        var writers = Enumerable.Range(0, 40).Select(async i =>
        {
            var id = (await agent.CreateApprovalAsync(new { action_name = $"action_{i}", timeout_seconds = 300 })).Id();
            await audit.SealAsync(Ct);
            Assert.Equal(HttpStatusCode.OK, (await agent.PostJsonAsync($"/api/v1/approvals/{id}/cancel", null)).StatusCode);
        });
        var sealers = Enumerable.Range(0, 5).Select(_ => audit.SealAsync(Ct));
        await Task.WhenAll(writers.Concat(sealers));
        var export = await ExportAsync(admin);
        var result = Verify(export);
        Assert.True(result.Ok, result.Message);
        Assert.Equal(80, result.Events);
    }

    [Theory]
    [InlineData(StorageProvider.Sqlite)]
    [InlineData(StorageProvider.Postgres)]
    public async Task Retention_deletes_old_decided_requests_keeps_statistics_and_leaves_a_signed_checkpoint(StorageProvider provider)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var keyFile = Path.Combine(TestPaths.NewTempDirectory(), "audit-key.pem");
        await File.WriteAllTextAsync(keyFile, key.ExportECPrivateKeyPem(), Ct);
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 10, 1, 9, 0, 0, TimeSpan.Zero));
        await using var app = new AgentSentinelApp(await TestStorage.CreateAsync(provider, "retention"), time, settings: new Dictionary<string, string?>
        {
            ["AgentSentinel:Retention:DecidedDays"] = "30",
            ["AgentSentinel:Retention:SigningKeyFile"] = keyFile,
        });
        using var admin = app.Client();
        using var agent = app.Client(await app.CreateKeyAsync("retention-agent", [Scopes.Agent]));
        using var approver = app.Client(await app.CreateKeyAsync("retention-approver", [Scopes.Approver], "ann@example.com"));

        // October 1st: one approved after a minute, one rejected after two, one expired, one cancelled.
        var approved = (await agent.CreateApprovalAsync(new { action_name = "transfer_funds", priority = "high", risk_level = "high", timeout_seconds = 3600 })).Id();
        var rejected = (await agent.CreateApprovalAsync(new { action_name = "delete_records", priority = "low", timeout_seconds = 3600 })).Id();
        var expired = (await agent.CreateApprovalAsync(new { action_name = "ping", timeout_seconds = 30 })).Id();
        var cancelled = (await agent.CreateApprovalAsync(new { action_name = "ping", timeout_seconds = 3600 })).Id();
        time.Advance(TimeSpan.FromSeconds(60));
        Assert.Equal(HttpStatusCode.OK, (await approver.PostJsonAsync($"/api/v1/approvals/{approved}/approve", null)).StatusCode);
        Assert.Equal(1, await app.Service<ApprovalService>().ExpireDueAsync(100, Ct));
        time.Advance(TimeSpan.FromSeconds(60));
        Assert.Equal(HttpStatusCode.OK, (await approver.PostJsonAsync($"/api/v1/approvals/{rejected}/reject", new { reason = "no" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await agent.PostJsonAsync($"/api/v1/approvals/{cancelled}/cancel", null)).StatusCode);

        // November 5th: a new request, still open.
        time.Advance(TimeSpan.FromDays(35));
        var open = (await agent.CreateApprovalAsync(new { action_name = "transfer_funds", timeout_seconds = 3600 })).Id();
        const string window = "from=2026-09-01T00:00:00Z&to=2026-12-01T00:00:00Z";
        var statsBefore = (await (await admin.GetAsync($"/api/v1/approvals/stats?{window}", Ct)).Json()).ToJsonString();
        var trendsBefore = await (await admin.GetAsync($"/api/v1/approvals/stats/timeseries?{window}&bucket=day", Ct)).Content.ReadAsStringAsync(Ct)
            + await (await admin.GetAsync($"/api/v1/approvals/stats/decision-times?{window}", Ct)).Content.ReadAsStringAsync(Ct);
        Assert.Contains("\"approved\":1", statsBefore, StringComparison.Ordinal);

        Assert.Equal(4, await app.Service<RetentionService>().RunAsync(Ct));

        foreach (var gone in new[] { approved, rejected, expired, cancelled })
        {
            Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/api/v1/approvals/{gone}", Ct)).StatusCode);
        }
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync($"/api/v1/approvals/{open}", Ct)).StatusCode);
        Assert.Equal(statsBefore, (await (await admin.GetAsync($"/api/v1/approvals/stats?{window}", Ct)).Json()).ToJsonString());
        Assert.Equal(trendsBefore, await (await admin.GetAsync($"/api/v1/approvals/stats/timeseries?{window}&bucket=day", Ct)).Content.ReadAsStringAsync(Ct)
            + await (await admin.GetAsync($"/api/v1/approvals/stats/decision-times?{window}", Ct)).Content.ReadAsStringAsync(Ct));

        // The remaining chain starts from the signed checkpoint, and grows on from it.
        Assert.Equal(HttpStatusCode.OK, (await agent.PostJsonAsync($"/api/v1/approvals/{open}/cancel", null)).StatusCode);
        var export = await ExportAsync(admin);
        Assert.StartsWith("{\"checkpoint\":{\"seq\":8,", export, StringComparison.Ordinal); // 4 created, 4 decided
        using var publicKey = ECDsa.Create();
        publicKey.ImportFromPem(key.ExportSubjectPublicKeyInfoPem());
        var result = Verify(export, publicKey);
        Assert.True(result.Ok, result.Message);
        Assert.Equal(2, result.Events);
        Assert.Contains("checkpoint at seq 8", result.Message, StringComparison.Ordinal);

        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var forged = Verify(export, other);
        Assert.False(forged.Ok);
        Assert.Contains("not signed by the given key", forged.Message, StringComparison.Ordinal);

        // Nothing more may go yet: the open request was decided today.
        Assert.Equal(0, await app.Service<RetentionService>().RunAsync(Ct));
    }
}
