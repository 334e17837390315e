using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using AgentSentinel.Core.Auth;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Testing;
using static AgentSentinel.Client.Tests.Server;

namespace AgentSentinel.Client.Tests;

/// <summary>A server that is not there, goes away, comes back, or lacks the long poll.</summary>
public sealed class ResilienceTests
{
    [Fact]
    public async Task An_unreachable_server_is_retried_a_bounded_number_of_times_then_reported()
    {
        using var counter = new CountingHandler(new SocketsHttpHandler());
        using var http = new HttpClient(counter) { Timeout = Timeout.InfiniteTimeSpan };
        using var client = new ApprovalClient(http, new ApprovalClientOptions
        {
            BaseAddress = new Uri($"http://127.0.0.1:{FreePort()}/"),
            ApiKey = "as_any_key",
            MaxRetries = 3,
            RetryBaseDelay = TimeSpan.FromMilliseconds(10),
            RetryMaxDelay = TimeSpan.FromMilliseconds(50),
        });

        var error = await Assert.ThrowsAsync<AgentSentinelUnavailableException>(
            () => client.RequestApprovalAsync(new ApprovalRequest { ActionName = "transfer_funds" }, Ct));

        Assert.Equal(4, error.Attempts);
        Assert.Equal(4, counter.Count);
        Assert.IsType<HttpRequestException>(error.InnerException, exactMatch: false);
        Assert.Null(error.ApprovalId);
        Assert.Contains("could not be reached", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_restart_during_the_wait_is_ridden_out_and_the_decision_arrives()
    {
        var storage = await TestStorage.CreateAsync(StorageProvider.Sqlite, "restart");
        var first = new AgentSentinelApp(storage, runJobServer: true);
        var baseAddress = first.StartOnLoopback();
        var agentKey = await first.CreateKeyAsync("restart agent", [Scopes.Agent], agentIds: ["agent-*"]);
        var approverKey = await first.CreateKeyAsync("restart approver", [Scopes.Approver], "restart@example.com");
        var agentId = ServerFixture.NewAgentId();
        using var client = new ApprovalClient(new ApprovalClientOptions
        {
            BaseAddress = baseAddress,
            ApiKey = agentKey,
            AgentId = agentId,
            LongPollTimeout = TimeSpan.FromSeconds(1),
            MaxRetries = 50,
            RetryBaseDelay = TimeSpan.FromMilliseconds(50),
            RetryMaxDelay = TimeSpan.FromMilliseconds(250),
        });

        var waiting = client.RequestApprovalAsync(new ApprovalRequest { ActionName = "transfer_funds", Timeout = TimeSpan.FromMinutes(2) }, Ct);
        string id;
        using (var approver = first.Client(approverKey))
        {
            id = await approver.PendingIdAsync(agentId);
        }
        await first.DisposeAsync();
        await Task.Delay(500, Ct);
        Assert.False(waiting.IsCompleted, "the client must keep waiting while the server is down");

        await using var second = new AgentSentinelApp(storage, runJobServer: true);
        Assert.Equal(baseAddress, second.StartOnLoopback(baseAddress.Port));
        using (var approver = second.Client(approverKey))
        {
            await approver.DecideAsync(id, "approve", new { notes = "After the restart." });
            Assert.Single(await approver.RequestsOfAsync(agentId));
        }

        var response = await waiting.WaitAsync(TimeSpan.FromSeconds(15), Ct);
        Assert.Equal(ApprovalStatus.Approved, response.Status);
        Assert.Equal(id, response.ApprovalId);
        Assert.Equal("After the restart.", response.ApproverNotes);
    }

    [Fact]
    public async Task A_server_that_stays_away_past_the_deadline_ends_the_wait_with_a_timeout()
    {
        var app = new AgentSentinelApp(await TestStorage.CreateAsync(StorageProvider.Sqlite, "gone"), runJobServer: true);
        var agentId = ServerFixture.NewAgentId();
        using var client = new ApprovalClient(new ApprovalClientOptions
        {
            BaseAddress = app.StartOnLoopback(),
            ApiKey = await app.CreateKeyAsync("gone agent", [Scopes.Agent], agentIds: ["agent-*"]),
            AgentId = agentId,
            LongPollTimeout = TimeSpan.FromSeconds(1),
            MaxRetries = 1000,
            RetryBaseDelay = TimeSpan.FromMilliseconds(50),
            RetryMaxDelay = TimeSpan.FromMilliseconds(200),
            DeadlineGrace = TimeSpan.FromMilliseconds(500),
        });
        var clock = Stopwatch.StartNew();
        var waiting = client.RequestApprovalAsync(new ApprovalRequest { ActionName = "transfer_funds", Timeout = TimeSpan.FromSeconds(2) }, Ct);
        string id;
        using (var admin = app.Client())
        {
            id = await admin.PendingIdAsync(agentId);
        }
        await app.DisposeAsync();

        var error = await Assert.ThrowsAsync<ApprovalWaitTimeoutException>(() => waiting);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(2.4), TimeSpan.FromSeconds(10));
        Assert.Equal(id, error.ApprovalId);
        Assert.Equal(ApprovalStatus.Pending, error.LastKnown?.Status);
        Assert.IsType<HttpRequestException>(error.InnerException, exactMatch: false);
    }

    [Fact]
    public async Task Against_a_server_without_the_long_poll_the_client_falls_back_to_polling()
    {
        await using var fake = ServerWithoutWait.Start(pendingPolls: 2);
        using var client = new ApprovalClient(new ApprovalClientOptions
        {
            BaseAddress = fake.BaseAddress,
            ApiKey = "as_any_key",
            PollInterval = TimeSpan.FromMilliseconds(50),
        });

        var first = await client.RequestApprovalAsync(new ApprovalRequest { ActionName = "transfer_funds", Timeout = TimeSpan.FromSeconds(60) }, Ct);
        var second = await client.RequestApprovalAsync(new ApprovalRequest { ActionName = "transfer_funds", Timeout = TimeSpan.FromSeconds(60) }, Ct);

        Assert.Equal(ApprovalStatus.Approved, first.Status);
        Assert.Equal("fake@example.com", first.ApproverEmail);
        Assert.Equal(ApprovalStatus.Approved, second.Status);
        Assert.NotEqual(first.ApprovalId, second.ApprovalId);
        // One long poll was tried and refused; from then on the client only polls.
        Assert.Equal(1, fake.Count("wait"));
        Assert.Equal(6, fake.Count("poll"));
        Assert.All(fake.Authorizations, a => Assert.Equal("ApiKey as_any_key", a));
    }

    private sealed class CountingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        private int _count;

        public int Count => _count;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _count);
            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>A minimal server of an older kind: create and poll, but no <c>wait</c> (404). Each request is pending
    /// for <c>pendingPolls</c> polls, then approved.</summary>
    private sealed class ServerWithoutWait : IAsyncDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly ConcurrentDictionary<string, int> _polls = new();
        private readonly ConcurrentQueue<string> _calls = new();
        private readonly int _pendingPolls;
        private Task _loop = Task.CompletedTask;

        private ServerWithoutWait(int pendingPolls) => _pendingPolls = pendingPolls;

        public Uri BaseAddress { get; private set; } = null!;

        public ConcurrentQueue<string> Authorizations { get; } = new();

        public static ServerWithoutWait Start(int pendingPolls)
        {
            var server = new ServerWithoutWait(pendingPolls);
            server.BaseAddress = new Uri($"http://127.0.0.1:{FreePort()}/");
            server._listener.Prefixes.Add(server.BaseAddress.ToString());
            server._listener.Start();
            server._loop = Task.Run(server.ServeAsync);
            return server;
        }

        public int Count(string kind) => _calls.Count(c => c == kind);

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }
                Authorizations.Enqueue(context.Request.Headers["Authorization"] ?? "");
                var path = context.Request.Url!.AbsolutePath.TrimEnd('/');
                var segments = path.Split('/');
                var (status, body) = (context.Request.HttpMethod, segments[^1]) switch
                {
                    ("POST", "approvals") => Created(),
                    ("GET", "poll") => Poll(segments[^2]),
                    _ => Missing(segments[^1]),
                };
                context.Response.StatusCode = status;
                context.Response.ContentType = "application/json";
                var bytes = Encoding.UTF8.GetBytes(body);
                await context.Response.OutputStream.WriteAsync(bytes);
                context.Response.Close();
            }
        }

        private (int, string) Created()
        {
            _calls.Enqueue("create");
            return (201, Approval(Guid.NewGuid().ToString(), "pending"));
        }

        private (int, string) Poll(string id)
        {
            _calls.Enqueue("poll");
            var n = _polls.AddOrUpdate(id, 1, (_, v) => v + 1);
            return (200, Approval(id, n > _pendingPolls ? "approved" : "pending"));
        }

        private (int, string) Missing(string last)
        {
            _calls.Enqueue(last);
            return (404, """{"title":"Not Found","status":404}""");
        }

        private static string Approval(string id, string status)
        {
            var now = DateTimeOffset.UtcNow;
            string Ts(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);
            var decided = status == "approved" ? $"\"{Ts(now)}\"" : "null";
            var email = status == "approved" ? "\"fake@example.com\"" : "null";
            return $$"""
                {"id":"{{id}}","approval_id":"{{id}}","status":"{{status}}","action_name":"transfer_funds",
                 "created_at":"{{Ts(now)}}","expires_at":"{{Ts(now.AddSeconds(60))}}",
                 "decided_at":{{decided}},"decided_by_email":{{email}},"decision_notes":null,"info_request_message":null}
                """;
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            _listener.Close();
            await _loop;
        }
    }
}
