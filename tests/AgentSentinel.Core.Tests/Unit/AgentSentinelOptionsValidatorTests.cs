using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Core.Tests.Unit;

public sealed class AgentSentinelOptionsValidatorTests
{
    private static ValidateOptionsResult Validate(AgentSentinelOptions options) => new AgentSentinelOptionsValidator().Validate(null, options);

    private static string SingleFailure(AgentSentinelOptions options)
    {
        var result = Validate(options);
        Assert.True(result.Failed);
        return Assert.Single(result.Failures!);
    }

    [Fact]
    public void The_default_options_are_valid()
    {
        var result = Validate(new AgentSentinelOptions());

        Assert.True(result.Succeeded);
        Assert.False(result.Failed);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void Postgres_without_a_connection_string_fails_naming_the_setting(string? connectionString)
    {
        var options = new AgentSentinelOptions { Storage = new StorageOptions { Provider = StorageProvider.Postgres, ConnectionString = connectionString } };

        var failure = SingleFailure(options);

        Assert.Contains("AgentSentinel:Storage:ConnectionString", failure, StringComparison.Ordinal);
        Assert.Contains("Postgres", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Postgres_with_a_connection_string_is_valid()
    {
        var options = new AgentSentinelOptions
        {
            Storage = new StorageOptions { Provider = StorageProvider.Postgres, ConnectionString = "Host=db;Database=sentinel;Username=app;Password=secret" },
        };

        Assert.True(Validate(options).Succeeded);
    }

    [Fact]
    public void Postgres_with_a_malformed_connection_string_fails_naming_the_setting()
    {
        var options = new AgentSentinelOptions
        {
            Storage = new StorageOptions { Provider = StorageProvider.Postgres, ConnectionString = "Host=db;NoSuchSetting=1" },
        };

        var failure = SingleFailure(options);

        Assert.StartsWith("AgentSentinel:Storage:ConnectionString is not a valid PostgreSQL connection string", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Sqlite_needs_no_connection_string()
    {
        var options = new AgentSentinelOptions { Storage = new StorageOptions { Provider = StorageProvider.Sqlite, ConnectionString = null } };

        Assert.True(Validate(options).Succeeded);
    }

    [Fact]
    public void An_unknown_storage_provider_fails_naming_the_setting()
    {
        var options = new AgentSentinelOptions { Storage = new StorageOptions { Provider = (StorageProvider)7 } };

        Assert.Contains("AgentSentinel:Storage:Provider", SingleFailure(options), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("tooShort1")]
    [InlineData("1234567890123456789")]
    public void A_short_bootstrap_key_fails_naming_the_setting(string key)
    {
        var options = new AgentSentinelOptions { Auth = new AuthOptions { BootstrapAdminKey = key } };

        var failure = SingleFailure(options);

        Assert.Contains("AgentSentinel:Auth:BootstrapAdminKey", failure, StringComparison.Ordinal);
        Assert.Contains("20", failure, StringComparison.Ordinal);
        Assert.DoesNotContain(key, failure.Replace("AgentSentinel:Auth:BootstrapAdminKey", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("as_0123456789abcdefgh")]
    public void A_bootstrap_key_of_20_characters_or_none_is_valid(string? key)
    {
        var options = new AgentSentinelOptions { Auth = new AuthOptions { BootstrapAdminKey = key } };

        Assert.True(Validate(options).Succeeded);
    }

    [Theory]
    [InlineData("approvals.example.com")]
    [InlineData("/console")]
    [InlineData("ftp://approvals.example.com/")]
    [InlineData("not a url")]
    public void A_bad_public_base_url_fails_naming_the_setting(string url)
    {
        var options = new AgentSentinelOptions { PublicBaseUrl = url };

        var failure = SingleFailure(options);

        Assert.StartsWith("AgentSentinel:PublicBaseUrl", failure, StringComparison.Ordinal);
        Assert.Contains($"'{url}'", failure, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://approvals.example.com")]
    [InlineData("http://localhost:5000/")]
    [InlineData("")]
    [InlineData(null)]
    public void An_absolute_http_public_base_url_or_none_is_valid(string? url)
    {
        Assert.True(Validate(new AgentSentinelOptions { PublicBaseUrl = url }).Succeeded);
    }

    [Theory]
    [InlineData(1023)]
    [InlineData(16 * 1024 * 1024 + 1)]
    public void A_request_body_limit_out_of_range_fails_naming_the_setting(int bytes)
    {
        var options = new AgentSentinelOptions { Api = new ApiOptions { MaxRequestBodyBytes = bytes } };

        Assert.Contains("AgentSentinel:Api:MaxRequestBodyBytes", SingleFailure(options), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(61, 25)]
    [InlineData(30, 0)]
    [InlineData(30, 31)]
    public void Wait_limits_out_of_range_fail_naming_the_setting(int max, int @default)
    {
        var options = new AgentSentinelOptions { Api = new ApiOptions { MaxWaitSeconds = max, DefaultWaitSeconds = @default } };

        Assert.Contains("AgentSentinel:Api:MaxWaitSeconds", SingleFailure(options), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1000)]
    [InlineData(60_001)]
    public void A_polling_interval_out_of_range_fails_naming_the_setting(int milliseconds)
    {
        var options = new AgentSentinelOptions { Jobs = new JobsOptions { SchedulePollingInterval = TimeSpan.FromMilliseconds(milliseconds) } };

        Assert.Contains("AgentSentinel:Jobs:SchedulePollingInterval", SingleFailure(options), StringComparison.Ordinal);
    }

    [Fact]
    public void An_invalid_policy_is_reported_with_its_path()
    {
        var options = new AgentSentinelOptions();
        options.Policy.ApprovalCostThresholdUsd = -1m;

        Assert.StartsWith("AgentSentinel:Policy: policy.approval_cost_threshold_usd:", SingleFailure(options), StringComparison.Ordinal);
    }

    [Fact]
    public void An_invalid_route_is_reported_with_its_path()
    {
        var options = new AgentSentinelOptions();
        options.Routing.Routes.Add(new RouteDefinition { Name = "payments", Match = new RouteMatch { Actions = ["transfer_*"] }, Slack = new ChannelTarget { Channel = "C0PAY" } });
        options.Routing.Routes.Add(new RouteDefinition { Name = "default", Slack = new ChannelTarget { Channel = "#approvals" } });

        var failure = SingleFailure(options);

        Assert.StartsWith("AgentSentinel:Routing: routes[1].slack.channel:", failure, StringComparison.Ordinal);
        Assert.Contains("'#approvals'", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_problem_is_reported_not_only_the_first()
    {
        var options = new AgentSentinelOptions
        {
            Storage = new StorageOptions { Provider = StorageProvider.Postgres },
            Auth = new AuthOptions { BootstrapAdminKey = "short" },
            PublicBaseUrl = "nope",
        };

        var result = Validate(options);

        Assert.Equal(3, result.Failures!.Count());
        Assert.Contains("AgentSentinel:Storage:ConnectionString", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("AgentSentinel:Auth:BootstrapAdminKey", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("AgentSentinel:PublicBaseUrl", result.FailureMessage, StringComparison.Ordinal);
    }

    private static ServiceProvider ProviderFor(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        return new ServiceCollection().AddAgentSentinelCore(configuration).BuildServiceProvider();
    }

    [Fact]
    public void An_invalid_route_in_configuration_is_reported_with_its_path()
    {
        using var provider = ProviderFor(new()
        {
            ["AgentSentinel:Routing:Routes:0:Name"] = "payments-critical",
            ["AgentSentinel:Routing:Routes:0:Match:Priorities:0"] = "critical",
            ["AgentSentinel:Routing:Routes:0:Slack:Channel"] = "C0PAYCRIT",
            ["AgentSentinel:Routing:Routes:1:Name"] = "default",
            ["AgentSentinel:Routing:Routes:1:Teams:Channel"] = "General",
        });

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<AgentSentinelOptions>>().Value);

        var failure = Assert.Single(ex.Failures);
        Assert.StartsWith("AgentSentinel:Routing: routes[1].teams.channel:", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Postgres_configured_without_a_connection_string_is_refused_at_binding()
    {
        using var provider = ProviderFor(new() { ["AgentSentinel:Storage:Provider"] = "Postgres" });

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<AgentSentinelOptions>>().Value);

        Assert.Contains("AgentSentinel:Storage:ConnectionString", Assert.Single(ex.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public void The_design_example_binds_from_configuration_and_is_valid()
    {
        using var provider = ProviderFor(new()
        {
            ["AgentSentinel:Routing:Routes:0:Name"] = "payments-critical",
            ["AgentSentinel:Routing:Routes:0:Match:Priorities:0"] = "critical",
            ["AgentSentinel:Routing:Routes:0:Match:Actions:0"] = "transfer_*",
            ["AgentSentinel:Routing:Routes:0:Slack:Channel"] = "C0PAYCRIT",
            ["AgentSentinel:Routing:Routes:0:Teams:Channel"] = "19:abc@thread.tacv2",
            ["AgentSentinel:Routing:Routes:0:Approvers:0"] = "U0ALICE",
            ["AgentSentinel:Routing:Routes:0:Approvers:1"] = "bob@example.com",
            ["AgentSentinel:Routing:Routes:0:Mention"] = "here",
            ["AgentSentinel:Routing:Routes:0:RemindersMinutes:0"] = "5",
            ["AgentSentinel:Routing:Routes:0:Escalation:0:AfterMinutes"] = "10",
            ["AgentSentinel:Routing:Routes:0:Escalation:0:Slack:Channel"] = "C0SECOPS",
            ["AgentSentinel:Routing:Routes:0:Escalation:0:Mention:0"] = "U0CISO",
            ["AgentSentinel:Routing:Routes:1:Name"] = "default",
            ["AgentSentinel:Routing:Routes:1:Slack:Channel"] = "C0APPROVALS",
        });

        var options = provider.GetRequiredService<IOptions<AgentSentinelOptions>>().Value;

        Assert.Equal(2, options.Routing.Routes.Count);
        Assert.Equal("C0SECOPS", Assert.Single(options.Routing.Routes[0].Escalation).Slack?.Channel);
        Assert.True(options.Routing.Routes[1].IsDefault);
    }
}
