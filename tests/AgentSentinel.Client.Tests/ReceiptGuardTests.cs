using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using static AgentSentinel.Client.Tests.Server;

namespace AgentSentinel.Client.Tests;

/// <summary>The client verifies the signed receipt against the real server's JWKS before a guarded action runs, and
/// refuses arguments that changed after approval, receipts altered on the way, and keys the server does not list.</summary>
public sealed class ReceiptGuardTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private static string Sha256(string canonical) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));

    private static GuardOptions Approval() => new() { RequiresHumanApproval = true, Timeout = TimeSpan.FromMinutes(5) };

    /// <summary>Sends through a handler that sees (and may rewrite) every answer of the server, and counts JWKS fetches.</summary>
    private sealed class Wire(Func<string, string, string>? rewrite = null) : DelegatingHandler(new SocketsHttpHandler())
    {
        public int JwksFetches;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            var path = request.RequestUri!.AbsolutePath;
            if (path == "/.well-known/jwks.json")
            {
                Interlocked.Increment(ref JwksFetches);
            }
            if (rewrite is null)
            {
                return response;
            }
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            var headers = response.Content.Headers.ContentType;
            response.Content = new StringContent(rewrite(path, body), Encoding.UTF8);
            response.Content.Headers.ContentType = headers;
            return response;
        }
    }

    private ApprovalClient ClientThrough(Wire wire, ApprovalClientOptions options) =>
        new(new HttpClient(wire) { Timeout = Timeout.InfiniteTimeSpan }, options);

    [Fact]
    public async Task An_approved_action_runs_after_its_receipt_verifies_with_the_servers_keys()
    {
        var options = server.Options();
        using var wire = new Wire();
        using var client = ClientThrough(wire, options);
        var guard = new ActionGuard(client);
        var inputs = new Dictionary<string, object> { ["to"] = "ACC-2", ["amount"] = 2500, ["from"] = "ACC-1" };

        var run = guard.GuardAsync("transfer_funds", inputs, (args, _) => Task.FromResult($"sent {args["amount"]}"), Approval(), Ct);
        var id = await server.Approver.PendingIdAsync(options.AgentId!);
        await server.Approver.DecideAsync(id, "approve");
        Assert.Equal("sent 2500", await run.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.Equal(1, wire.JwksFetches);

        var response = await client.GetApprovalAsync(id, Ct);
        var receipt = await client.VerifyApprovalAsync(response, "transfer_funds", inputs, options.AgentId, Ct);
        Assert.Equal(Sha256("""{"amount":2500,"from":"ACC-1","to":"ACC-2"}"""), receipt.ActionInputsSha256);
        Assert.Equal("approved", receipt.Decision);
        Assert.Equal(ServerFixture.ApproverEmail, receipt.DecidedBy);
        Assert.Equal(id, receipt.ApprovalId);
        // Another action, or another request's receipt, is not this approval.
        await Assert.ThrowsAsync<ReceiptVerificationException>(() => client.VerifyApprovalAsync(response, "delete_account", inputs, null, Ct));
        await Assert.ThrowsAsync<ReceiptVerificationException>(() => client.VerifyApprovalAsync(response with { ApprovalId = Guid.NewGuid().ToString() }, "transfer_funds", inputs, null, Ct));
        // The keys were fetched once and kept.
        Assert.Equal(1, wire.JwksFetches);
    }

    [Fact]
    public async Task Arguments_changed_after_approval_are_refused_naming_both_hashes()
    {
        var options = server.Options();
        using var client = new ApprovalClient(options);
        var guard = new ActionGuard(client);
        var inputs = new Dictionary<string, object> { ["to"] = "ACC-2", ["amount"] = 2500 };
        var ran = false;

        var run = guard.GuardAsync("transfer_funds", inputs, (_, _) => { ran = true; return Task.FromResult(0); }, Approval(), Ct);
        var id = await server.Approver.PendingIdAsync(options.AgentId!);
        // The approver sees 2500; the agent's arguments become 250000 before the decision comes back.
        inputs["amount"] = 250000;
        await server.Approver.DecideAsync(id, "approve");

        var error = await Assert.ThrowsAsync<ReceiptArgumentsMismatchException>(() => run.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.False(ran);
        Assert.Equal(Sha256("""{"amount":2500,"to":"ACC-2"}"""), error.ApprovedHash);
        Assert.Equal(Sha256("""{"amount":250000,"to":"ACC-2"}"""), error.ActualHash);
        Assert.Contains(error.ApprovedHash, error.Message, StringComparison.Ordinal);
        Assert.Contains(error.ActualHash, error.Message, StringComparison.Ordinal);
        Assert.Equal(id, error.ApprovalId);
    }

    [Fact]
    public async Task A_receipt_altered_on_the_way_is_refused_and_the_action_does_not_run()
    {
        var options = server.Options();
        // A proxy that rewrites who decided in every receipt it passes on.
        using var wire = new Wire((_, body) =>
        {
            if (!body.StartsWith('{') || JsonNode.Parse(body) is not JsonObject json || json["receipt"]?.GetValue<string>() is not { } receipt)
            {
                return body;
            }
            var parts = receipt.Split('.');
            var payload = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[1])).Replace(ServerFixture.ApproverEmail, "mallory@example.com", StringComparison.Ordinal);
            json["receipt"] = $"{parts[0]}.{Base64Url.EncodeToString(Encoding.UTF8.GetBytes(payload))}.{parts[2]}";
            return json.ToJsonString();
        });
        using var client = ClientThrough(wire, options);
        var guard = new ActionGuard(client);
        var ran = false;

        var run = guard.GuardAsync("transfer_funds", _ => { ran = true; return Task.CompletedTask; }, Approval() with { ActionInputs = new { amount = 1 } }, Ct);
        var id = await server.Approver.PendingIdAsync(options.AgentId!);
        await server.Approver.DecideAsync(id, "approve");

        var error = await Assert.ThrowsAsync<ReceiptVerificationException>(() => run.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.IsNotType<ReceiptArgumentsMismatchException>(error);
        Assert.Contains("signature does not verify", error.Message, StringComparison.Ordinal);
        Assert.False(ran);
    }

    [Fact]
    public async Task A_receipt_signed_with_a_key_the_server_does_not_list_is_refused()
    {
        var options = server.Options();
        using var wire = new Wire((path, body) => path == "/.well-known/jwks.json" ? """{"keys":[]}""" : body);
        using var client = ClientThrough(wire, options);
        var guard = new ActionGuard(client);
        var ran = false;

        var run = guard.GuardAsync("transfer_funds", _ => { ran = true; return Task.CompletedTask; }, Approval(), Ct);
        var id = await server.Approver.PendingIdAsync(options.AgentId!);
        await server.Approver.DecideAsync(id, "approve");

        var error = await Assert.ThrowsAsync<ReceiptVerificationException>(() => run.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.Contains("is not listed", error.Message, StringComparison.Ordinal);
        Assert.False(ran);
    }

    [Fact]
    public async Task After_a_key_rotation_the_client_fetches_the_new_key_and_keeps_running_approved_actions()
    {
        var options = server.Options();
        using var wire = new Wire();
        using var client = ClientThrough(wire, options);
        var guard = new ActionGuard(client);

        async Task<string> ApprovedRunAsync()
        {
            var run = guard.GuardAsync("transfer_funds", _ => Task.FromResult("ran"), Approval(), Ct);
            var id = await server.Approver.PendingIdAsync(options.AgentId!);
            await server.Approver.DecideAsync(id, "approve");
            return await run.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        }

        Assert.Equal("ran", await ApprovedRunAsync());
        Assert.Equal(1, wire.JwksFetches);
        using var admin = server.App.Client();
        Assert.Equal(HttpStatusCode.OK, (await admin.PostAsync("/api/v1/admin/receipt-keys/rotate", null, Ct)).StatusCode);

        Assert.Equal("ran", await ApprovedRunAsync());
        Assert.Equal(2, wire.JwksFetches);
    }

    [Fact]
    public async Task Verification_can_be_turned_off_for_a_server_without_receipts()
    {
        var options = server.Options();
        options.VerifyReceipts = false;
        using var wire = new Wire((_, body) => body.Replace("\"receipt\":\"", "\"receipt_removed\":\"", StringComparison.Ordinal));
        using var client = ClientThrough(wire, options);
        var guard = new ActionGuard(client);

        var run = guard.GuardAsync("transfer_funds", _ => Task.FromResult("ran"), Approval(), Ct);
        var id = await server.Approver.PendingIdAsync(options.AgentId!);
        await server.Approver.DecideAsync(id, "approve");
        Assert.Equal("ran", await run.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.Equal(0, wire.JwksFetches);

        // With verification on, the same answer without a receipt is refused.
        options.VerifyReceipts = true;
        using var strict = ClientThrough(new Wire((_, body) => body.Replace("\"receipt\":\"", "\"receipt_removed\":\"", StringComparison.Ordinal)), options);
        var refused = new ActionGuard(strict).GuardAsync("transfer_funds", _ => Task.FromResult("ran"), Approval(), Ct);
        var second = await WaitForSecondAsync(options.AgentId!, id);
        await server.Approver.DecideAsync(second, "approve");
        var error = await Assert.ThrowsAsync<ReceiptVerificationException>(() => refused.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.Contains("VerifyReceipts", error.Message, StringComparison.Ordinal);
    }

    private async Task<string> WaitForSecondAsync(string agentId, string first)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var pending = (await server.Approver.RequestsOfAsync(agentId)).Where(r => r!["status"]!.GetValue<string>() == "pending" && r["id"]!.GetValue<string>() != first).ToList();
            if (pending.Count == 1)
            {
                return pending[0]!["id"]!.GetValue<string>();
            }
            Assert.True(DateTime.UtcNow < until, "the second request did not appear");
            await Task.Delay(20, Ct);
        }
    }
}
