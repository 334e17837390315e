using Microsoft.Extensions.DependencyInjection;
using static AgentSentinel.Client.Tests.Server;

namespace AgentSentinel.Client.Tests;

/// <summary>Registration with <see cref="IHttpClientFactory"/>, and options that are wrong.</summary>
public sealed class RegistrationTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task The_client_registered_with_the_http_client_factory_gets_decisions_from_the_server()
    {
        var agentId = ServerFixture.NewAgentId();
        var calls = 0;
        var services = new ServiceCollection();
        services.AddAgentSentinelClient(o =>
        {
            o.BaseAddress = server.BaseAddress;
            o.ApiKey = server.AgentKey;
            o.AgentId = agentId;
            o.RunId = "run-123";
        }).HttpClient.AddHttpMessageHandler(() => new CallCounter(() => Interlocked.Increment(ref calls)));
        await using var provider = services.BuildServiceProvider();

        var guard = provider.GetRequiredService<ActionGuard>();
        Assert.Same(provider.GetRequiredService<ApprovalClient>(), provider.GetRequiredService<IApprovalHandler>());
        var result = guard.GuardAsync("transfer_funds", _ => Task.FromResult("receipt"),
            new GuardOptions { RequiresHumanApproval = true, CostUsd = 0.10m, ApprovalDescription = "Transfer funds between customer accounts" }, Ct);
        var id = await server.Approver.PendingIdAsync(agentId);
        await server.Approver.DecideAsync(id, "approve");

        Assert.Equal("receipt", await result.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.True(calls >= 2, $"only {calls} calls went through the factory's pipeline");
        Assert.Equal("run-123", (await server.Approver.DetailAsync(id))["run_id"]!.GetValue<string>());
    }

    [Theory]
    [InlineData(null, "as_key", "BaseAddress")]
    [InlineData("ftp://example.com/", "as_key", "BaseAddress")]
    [InlineData("http://localhost:5000/", null, "ApiKey")]
    [InlineData("http://localhost:5000/", " ", "ApiKey")]
    public void Options_that_are_wrong_are_refused_with_the_setting_named(string? baseAddress, string? apiKey, string setting)
    {
        var options = new ApprovalClientOptions { BaseAddress = baseAddress is null ? null : new Uri(baseAddress), ApiKey = apiKey };
        var error = Assert.Throws<ArgumentException>(() => new ApprovalClient(options));
        Assert.Contains($"ApprovalClientOptions.{setting}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Out_of_range_timings_and_a_short_http_timeout_are_refused()
    {
        var options = new ApprovalClientOptions { BaseAddress = new Uri("http://localhost:5000/"), ApiKey = "as_key", LongPollTimeout = TimeSpan.FromSeconds(31) };
        Assert.Contains("LongPollTimeout", Assert.Throws<ArgumentException>(() => new ApprovalClient(options)).Message, StringComparison.Ordinal);

        options.LongPollTimeout = TimeSpan.FromSeconds(25);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        Assert.Contains("Timeout", Assert.Throws<ArgumentException>(() => new ApprovalClient(http, options)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inputs_that_are_not_a_json_object_are_refused_before_anything_is_sent()
    {
        using var client = new ApprovalClient(server.Options());
        var error = await Assert.ThrowsAsync<ArgumentException>(
            () => client.CreateApprovalAsync(new ApprovalRequest { ActionName = "x", ActionInputs = new[] { 1, 2 } }, Ct));
        Assert.Contains("ActionInputs", error.Message, StringComparison.Ordinal);
    }

    private sealed class CallCounter(Action onCall) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            onCall();
            return base.SendAsync(request, cancellationToken);
        }
    }
}
