using System.Text.Json.Nodes;
using AgentSentinel.Api.Callbacks;
using AgentSentinel.Core.Approvals;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Callbacks;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Jobs;
using AgentSentinel.Core.Storage;
using AgentSentinel.Testing;

namespace AgentSentinel.Api.Tests.Callbacks;

public sealed class SqliteCallbackDeliveryTests() : CallbackDeliveryTests(StorageProvider.Sqlite);

public sealed class PostgresCallbackDeliveryTests() : CallbackDeliveryTests(StorageProvider.Postgres);

/// <summary>Callbacks end to end: the real host and database, a receiver on loopback that records what it got, a fake
/// clock, and the callback jobs run from the host's job storage.</summary>
public abstract class CallbackDeliveryTests(StorageProvider provider)
{
    private static CancellationToken Ct => Http.Ct;

    private static readonly TimeSpan Tolerance = TimeSpan.FromMinutes(5);

    private static FakeCallbackReceiver.Received[] Received(CallbackHarness h) => [.. h.Receiver.Requests];

    /// <summary>Verifies a received callback as its receiver does: with the URL it was sent to and the requesting key's id.</summary>
    private static bool Verifies(CallbackHarness h, string secret, FakeCallbackReceiver.Received got, string? url = null, string? keyId = null) =>
        CallbackSignature.Verify(secret, got.Header("X-AgentSentinel-Signature"), url ?? h.Receiver.BaseUrl + got.Path.TrimStart('/'),
            keyId ?? h.AgentKeyId, got.Body, h.Time.GetUtcNow(), Tolerance);

    private static async Task<CallbackDelivery> SingleDeliveryAsync(CallbackHarness h, string approvalId) =>
        Assert.Single(await h.App.Service<ICallbackStore>().ListAsync(Guid.Parse(approvalId), Ct));

    [Fact]
    public async Task An_approval_is_posted_once_signed_with_the_configured_secret_and_the_body_is_the_poll_object()
    {
        await using var h = await CallbackHarness.StartAsync(provider);
        var id = await h.CreateAsync(h.CallbackUrl("hooks/agent?run=7"));
        Assert.Empty(h.PendingJobs()); // creation is not an event agents are called for
        await h.DecideAsync(id, "approve", new { notes = "Fine <b>by</b> me & you" });

        Assert.Equal(1, await h.RunJobsAsync());
        var got = Assert.Single(Received(h));
        Assert.Equal("/hooks/agent?run=7", got.Path);
        Assert.True(Verifies(h, CallbackHarness.SigningSecret, got));
        Assert.False(Verifies(h, "another-secret-0123456789abcdefghijklmn", got));
        Assert.StartsWith($"t={h.Time.GetUtcNow().ToUnixTimeSeconds()},v2=", got.Header("X-AgentSentinel-Signature"), StringComparison.Ordinal);
        Assert.Equal($"{id}:2", got.Header("X-AgentSentinel-Delivery"));
        Assert.Equal("approved", got.Header("X-AgentSentinel-Event"));
        Assert.Equal("1", got.Header("X-AgentSentinel-Attempt"));
        Assert.Equal(CallbackSender.UserAgent, got.Header("User-Agent"));
        Assert.Equal("application/json; charset=utf-8", got.Header("Content-Type"));

        // Byte for byte what the agent API answers for the poll call.
        var poll = await (await h.Agent.GetAsync($"/api/v1/approvals/{id}/poll", Ct)).Content.ReadAsStringAsync(Ct);
        Assert.Equal(poll, got.BodyText);
        var body = JsonNode.Parse(got.BodyText)!;
        Assert.Equal("approved", body.Str("status"));
        Assert.Equal("Fine <b>by</b> me & you", body.Str("decision_notes"));
        Assert.Equal("alice@example.com", body.Str("decided_by_email"));
        // The callback carries the signed receipt, as the poll object does.
        var receipt = Jwks.Verify(await Jwks.FetchAsync(h.App.Client(key: null)), body.Str("receipt")!);
        Assert.Equal(id, receipt.Str("approval_id"));
        Assert.Equal("approved", receipt.Str("decision"));

        // Nothing more is sent, and operators can see what happened.
        Assert.Equal(0, await h.RunJobsAsync());
        await h.App.Service<CallbackJobs>().SweepAsync(Ct);
        await h.RunJobsAsync();
        Assert.Single(Received(h));
        var delivery = await SingleDeliveryAsync(h, id);
        Assert.Equal(CallbackState.Delivered, delivery.State);
        var callbacks = await (await h.Admin.GetAsync($"/api/v1/admin/approvals/{id}/callbacks", Ct)).Json();
        var listed = Assert.Single(callbacks.AsArray())!;
        Assert.Equal("delivered", listed.Str("state"));
        Assert.Equal(200, (int)listed["tries"]![0]!["status"]!);
        var detail = await (await h.Agent.GetAsync($"/api/v1/approvals/{id}", Ct)).Json();
        var last = detail["events"]!.AsArray()[^1]!;
        Assert.Equal(CallbackEventKinds.Delivered, last.Str("kind"));
        Assert.Equal($"{id}:2", last["details"]!.Str("delivery_id"));
    }

    [Fact]
    public async Task Failed_tries_are_retried_at_the_backoff_times_with_the_same_delivery_id_until_the_receiver_answers_2xx()
    {
        await using var h = await CallbackHarness.StartAsync(provider);
        var id = await h.CreateAsync();
        h.Receiver.FailNext(500, 503, 302);
        await h.DecideAsync(id, "reject", new { reason = "Too expensive" });
        var start = h.Time.GetUtcNow();

        Assert.Equal(1, await h.RunJobsAsync());
        Assert.Single(Received(h));
        // Each wait doubles from 10 s: the next try is due 10 s, then 20 s, then 40 s after the previous one.
        var offsets = new[] { 10, 30, 70 };
        for (var i = 0; i < offsets.Length; i++)
        {
            var delivery = await SingleDeliveryAsync(h, id);
            Assert.Equal(CallbackState.Pending, delivery.State);
            Assert.Equal(start.AddSeconds(offsets[i]), delivery.NextAttemptAt!.Value, TimeSpan.FromMilliseconds(1));
            var job = Assert.Single(h.PendingJobs());
            Assert.Equal(i + 2, job.Attempt);
            var expectedDelay = delivery.NextAttemptAt!.Value - h.Time.GetUtcNow();
            Assert.True((job.Delay!.Value - expectedDelay).Duration() < TimeSpan.FromSeconds(1), $"scheduled after {job.Delay}, expected {expectedDelay}");

            // A job that runs a little early sends nothing and comes back at the due time.
            h.Time.Advance(delivery.NextAttemptAt.Value - h.Time.GetUtcNow() - TimeSpan.FromMilliseconds(100));
            Assert.Equal(1, await h.RunJobsAsync());
            Assert.Equal(i + 1, Received(h).Length);
            h.Time.Advance(TimeSpan.FromMilliseconds(100));
            Assert.Equal(1, await h.RunJobsAsync());
            Assert.Equal(i + 2, Received(h).Length);
        }

        var tries = Received(h);
        Assert.All(tries, t => Assert.Equal($"{id}:2", t.Header("X-AgentSentinel-Delivery")));
        Assert.All(tries, t => Assert.Equal("rejected", t.Header("X-AgentSentinel-Event")));
        Assert.Equal(["1", "2", "3", "4"], tries.Select(t => t.Header("X-AgentSentinel-Attempt")));
        Assert.All(tries, t => Assert.Equal(tries[0].Body, t.Body));
        Assert.All(tries, t => Assert.True(Verifies(h, CallbackHarness.SigningSecret, t)));
        var done = await SingleDeliveryAsync(h, id);
        Assert.Equal(CallbackState.Delivered, done.State);
        Assert.Equal(4, done.Attempts);
        Assert.Empty(h.PendingJobs());
        var recorded = await h.App.Service<ICallbackStore>().ListAttemptsAsync(done.Id, Ct);
        Assert.Equal([500, 503, 302, 200], recorded.Select(a => a.Status));
        Assert.Equal([0, 10, 30, 70], recorded.Select(a => (int)Math.Round((a.At - start).TotalSeconds)));
        Assert.Contains("redirect", recorded[2].Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tries_stop_after_MaxAttempts_and_the_callback_is_recorded_as_failed()
    {
        await using var h = await CallbackHarness.StartAsync(provider);
        var id = await h.CreateAsync();
        h.Receiver.FailNext([.. Enumerable.Repeat(500, 20)]);
        Assert.Equal(HttpStatusCode.OK, (await h.Agent.PostJsonAsync($"/api/v1/approvals/{id}/cancel", null)).StatusCode);

        for (var i = 0; i < 20; i++)
        {
            await h.RunJobsAsync();
            h.Time.Advance(TimeSpan.FromMinutes(1));
        }
        await h.App.Service<CallbackJobs>().SweepAsync(Ct);
        await h.RunJobsAsync();

        Assert.Equal(CallbackHarness.MaxAttempts, Received(h).Length);
        Assert.All(Received(h), t => Assert.Equal("cancelled", t.Header("X-AgentSentinel-Event")));
        var delivery = await SingleDeliveryAsync(h, id);
        Assert.Equal(CallbackState.Failed, delivery.State);
        Assert.Equal(500, delivery.LastStatus);
        Assert.Empty(h.PendingJobs());
        var events = await h.App.Service<IApprovalStore>().GetEventsAsync(Guid.Parse(id), Ct);
        var failed = Assert.Single(events, e => e.Kind == CallbackEventKinds.Failed);
        Assert.Contains("\"attempts\":5", failed.Details, StringComparison.Ordinal);
        var listed = (await (await h.Admin.GetAsync($"/api/v1/admin/approvals/{id}/callbacks", Ct)).Json()).AsArray().Single()!;
        Assert.Equal("failed", listed.Str("state"));
        Assert.Equal(CallbackHarness.MaxAttempts, listed["tries"]!.AsArray().Count);
        Assert.Null(listed["next_attempt_at"]);
    }

    [Fact]
    public async Task A_callback_signed_for_one_agent_does_not_verify_at_another_agents_endpoint()
    {
        await using var h = await CallbackHarness.StartAsync(provider);
        // Another agent whose callbacks are signed with the same configured secret.
        var other = await (await h.Admin.PostJsonAsync("/api/v1/admin/api-keys", new { name = "other-agent", scopes = new[] { Scopes.Agent } })).Json();
        var id = await h.CreateAsync(h.CallbackUrl("hooks/agent-a"));
        await h.DecideAsync(id, "approve");
        Assert.Equal(1, await h.RunJobsAsync());
        var got = Assert.Single(Received(h));
        Assert.True(Verifies(h, CallbackHarness.SigningSecret, got, url: h.CallbackUrl("hooks/agent-a"), keyId: h.AgentKeyId));

        // Replayed to the other agent's endpoint, which checks with its own URL and key id: refused.
        Assert.False(Verifies(h, CallbackHarness.SigningSecret, got, url: h.CallbackUrl("hooks/agent-b"), keyId: other.Id()));
        Assert.False(Verifies(h, CallbackHarness.SigningSecret, got, url: h.CallbackUrl("hooks/agent-b")));
        Assert.False(Verifies(h, CallbackHarness.SigningSecret, got, keyId: other.Id()));
    }

    [Fact]
    public async Task A_question_from_an_approver_is_a_callback_too_signed_with_the_keys_own_secret()
    {
        await using var h = await CallbackHarness.StartAsync(provider);
        var secret = (await (await h.Admin.PostJsonAsync($"/api/v1/admin/api-keys/{h.AgentKeyId}/callback-secret", null)).Json()).Str("callback_secret")!;
        Assert.StartsWith("ascb_", secret, StringComparison.Ordinal);
        var keys = await (await h.Admin.GetAsync("/api/v1/admin/api-keys", Ct)).Json();
        Assert.True((bool)keys.AsArray().Single(k => k!.Str("id") == h.AgentKeyId)!["has_callback_secret"]!);
        Assert.DoesNotContain(secret, keys.ToJsonString(), StringComparison.Ordinal);

        var id = await h.CreateAsync();
        await h.DecideAsync(id, "request-info", new { question = "Which invoice?" });
        Assert.Equal(1, await h.RunJobsAsync());
        var question = Assert.Single(Received(h));
        Assert.Equal("info_requested", question.Header("X-AgentSentinel-Event"));
        Assert.Equal("Which invoice?", JsonNode.Parse(question.BodyText)!.Str("info_request_message"));
        Assert.True(Verifies(h, secret, question));
        Assert.False(Verifies(h, CallbackHarness.SigningSecret, question));

        // The agent's answer is no callback; the decision after it is a new one with its own delivery id.
        Assert.Equal(HttpStatusCode.OK, (await h.Agent.PostJsonAsync($"/api/v1/approvals/{id}/respond", new { response = "Invoice 42" })).StatusCode);
        Assert.Equal(0, await h.RunJobsAsync());
        Assert.Equal(HttpStatusCode.NoContent, (await h.Admin.DeleteAsync($"/api/v1/admin/api-keys/{h.AgentKeyId}/callback-secret", Ct)).StatusCode);
        await h.DecideAsync(id, "approve");
        Assert.Equal(1, await h.RunJobsAsync());
        var decision = Received(h)[1];
        Assert.Equal("approved", decision.Header("X-AgentSentinel-Event"));
        Assert.NotEqual(question.Header("X-AgentSentinel-Delivery"), decision.Header("X-AgentSentinel-Delivery"));
        // Without its own secret the key's callbacks are signed with the configured one.
        Assert.True(Verifies(h, CallbackHarness.SigningSecret, decision));
        Assert.Equal(["info_requested", "approved"], (await h.App.Service<ICallbackStore>().ListAsync(Guid.Parse(id), Ct)).Select(d => d.Event));

        await (await h.Admin.PostJsonAsync("/api/v1/admin/api-keys/no-such-key/callback-secret", null)).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await h.Agent.PostJsonAsync($"/api/v1/admin/api-keys/{h.AgentKeyId}/callback-secret", null)).AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Each_event_has_exactly_one_callback_however_often_it_is_announced()
    {
        await using var h = await CallbackHarness.StartAsync(provider);
        var id = Guid.Parse(await h.CreateAsync(timeoutSeconds: 30));
        var other = await h.CreateAsync();
        var noCallback = (await h.Agent.CreateApprovalAsync(new { action_name = "transfer_funds", timeout_seconds = 30 })).Id();

        h.Time.Advance(TimeSpan.FromSeconds(31));
        await h.App.Service<ExpiryJobs>().ExpireAsync(id, Ct);
        await h.App.Service<ExpiryJobs>().ExpireAsync(id, Ct);
        await h.App.Service<ExpiryJobs>().SweepAsync(Ct);
        var expired = (await h.App.Service<ApprovalService>().GetAsync(id, Ct))!;
        await h.App.EffectsQueuedAsync();
        Assert.Null(await h.App.Service<CallbackOutbox>().CreateAsync(expired, Ct));
        h.Time.Advance(TimeSpan.FromMinutes(2));
        // The sweep queues the overdue delivery a second time: two jobs, one try.
        Assert.Equal(1, await h.App.Service<CallbackJobs>().SweepAsync(Ct));

        Assert.Equal(2, await h.RunJobsAsync());
        var got = Assert.Single(Received(h));
        Assert.Equal("expired", got.Header("X-AgentSentinel-Event"));
        Assert.Equal($"{id}:2", got.Header("X-AgentSentinel-Delivery"));
        Assert.Single(await h.App.Service<ICallbackStore>().ListAsync(id, Ct));
        Assert.Empty(await h.App.Service<ICallbackStore>().ListAsync(Guid.Parse(other), Ct));
        Assert.Empty(await h.App.Service<ICallbackStore>().ListAsync(Guid.Parse(noCallback), Ct));
    }

    [Fact]
    public async Task An_allowed_host_name_that_resolves_to_loopback_is_refused_without_any_connection()
    {
        await using var h = await CallbackHarness.StartAsync(provider, allowedHosts: ["localhost"]);
        var id = await h.CreateAsync($"http://localhost:{h.Receiver.Port}/hooks/agent");
        await h.DecideAsync(id, "approve");

        Assert.Equal(1, await h.RunJobsAsync());
        Assert.Empty(h.Receiver.Requests);
        var delivery = await SingleDeliveryAsync(h, id);
        Assert.Equal(CallbackState.Failed, delivery.State);
        Assert.Contains("not a public address", delivery.LastError, StringComparison.Ordinal);
        Assert.Contains("localhost", delivery.LastError, StringComparison.Ordinal);
        Assert.Null(delivery.LastStatus);
        Assert.Empty(h.PendingJobs());
        h.Time.Advance(TimeSpan.FromHours(1));
        await h.App.Service<CallbackJobs>().SweepAsync(Ct);
        Assert.Equal(0, await h.RunJobsAsync());
        Assert.Empty(h.Receiver.Requests);
        Assert.Contains(await h.App.Service<IApprovalStore>().GetEventsAsync(Guid.Parse(id), Ct), e => e.Kind == CallbackEventKinds.Failed);
    }

    [Fact]
    public async Task A_url_whose_host_left_the_allow_list_is_refused_at_delivery()
    {
        await using var h = await CallbackHarness.StartAsync(provider);
        var id = await h.CreateAsync();
        await h.DecideAsync(id, "approve");
        // The stored URL is checked again before each try, against the list in force then.
        var store = h.App.Service<ICallbackStore>();
        var delivery = await SingleDeliveryAsync(h, id);
        var options = h.App.Service<Microsoft.Extensions.Options.IOptionsMonitor<CallbackOptions>>().CurrentValue;
        options.AllowedHosts.Clear();
        options.AllowedHosts.Add("hooks.example.com");
        Assert.Equal(1, await h.RunJobsAsync());
        Assert.Empty(h.Receiver.Requests);
        var failed = (await store.GetAsync(delivery.Id, Ct))!;
        Assert.Equal(CallbackState.Failed, failed.State);
        Assert.Contains("not on this server's list", failed.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_receiver_that_answers_too_late_is_tried_again()
    {
        await using var h = await CallbackHarness.StartAsync(provider, timeout: "00:00:01");
        var id = await h.CreateAsync();
        await h.DecideAsync(id, "approve");
        h.Receiver.AnswerDelay = TimeSpan.FromSeconds(30);

        Assert.Equal(1, await h.RunJobsAsync());
        var delivery = await SingleDeliveryAsync(h, id);
        Assert.Equal(CallbackState.Pending, delivery.State);
        Assert.Contains("No answer within 1 s", delivery.LastError, StringComparison.Ordinal);
        h.Receiver.AnswerDelay = TimeSpan.Zero;
        h.Time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(1, await h.RunJobsAsync());
        Assert.Equal(CallbackState.Delivered, (await SingleDeliveryAsync(h, id)).State);
        Assert.Equal(["1", "2"], Received(h).Select(r => r.Header("X-AgentSentinel-Attempt")));
    }

    [Fact]
    public async Task A_connection_error_is_retried()
    {
        await using var h = await CallbackHarness.StartAsync(provider);
        var closed = await FakeCallbackReceiver.StartAsync();
        var url = closed.BaseUrl + "gone";
        await closed.DisposeAsync();
        var id = await h.CreateAsync(url);
        await h.DecideAsync(id, "approve");

        Assert.Equal(1, await h.RunJobsAsync());
        var delivery = await SingleDeliveryAsync(h, id);
        Assert.Equal(CallbackState.Pending, delivery.State);
        Assert.Equal(1, delivery.Attempts);
        Assert.Null(delivery.LastStatus);
        Assert.Contains("The request failed", delivery.LastError, StringComparison.Ordinal);
        Assert.Equal(2, Assert.Single(h.PendingJobs()).Attempt);
    }

    [Fact]
    public async Task A_transition_committed_by_the_store_alone_gets_its_callback_and_the_sweep_requeues_lost_jobs()
    {
        await using var h = await CallbackHarness.StartAsync(provider);
        // Only the store's transaction ran (as when the server stops right after the commit): its outbox entry, written
        // in that transaction, still brings the callback.
        var missed = Guid.Parse(await h.CreateAsync());
        var applied = await h.App.Service<IApprovalStore>().TransitionAsync(
            new TransitionCommand(missed, TransitionKind.Cancel, Actor.System, null), Ct);
        Assert.True(applied.Applied);
        await h.App.EffectsQueuedAsync();
        Assert.Single(await h.App.Service<ICallbackStore>().ListAsync(missed, Ct));
        // Deliveries whose jobs were lost with the in-memory job storage.
        var lost = await h.CreateAsync();
        await h.DecideAsync(lost, "approve");
        h.LoseJobs();

        var sweep = h.App.Service<CallbackJobs>();
        Assert.Equal(0, await sweep.SweepAsync(Ct)); // too recent: their own jobs may still come
        Assert.Equal(0, await h.RunJobsAsync());
        h.Time.Advance(CallbackJobs.SweepGrace + TimeSpan.FromSeconds(1));
        Assert.Equal(2, await sweep.SweepAsync(Ct)); // both queued again
        Assert.Equal(2, await h.RunJobsAsync());

        var events = Received(h).Select(r => (r.Header("X-AgentSentinel-Delivery"), r.Header("X-AgentSentinel-Event"))).OrderBy(e => e.Item2).ToList();
        Assert.Equal([($"{lost}:2", "approved"), ($"{missed}:2", "cancelled")], events);
        Assert.Equal(0, await sweep.SweepAsync(Ct));
        Assert.Equal(0, await h.RunJobsAsync());
    }
}
