using System.Net;
using System.Text;
using AgentSentinel.Core.Callbacks;

namespace AgentSentinel.Core.Tests.Unit;

public sealed class CallbackUrlPolicyTests
{
    [Theory]
    [InlineData("8.8.8.8", true)]
    [InlineData("93.184.216.34", true)]
    [InlineData("2606:4700:4700::1111", true)]
    [InlineData("127.0.0.1", false)]
    [InlineData("127.255.0.9", false)]
    [InlineData("10.0.0.5", false)]
    [InlineData("172.16.0.1", false)]
    [InlineData("172.31.255.255", false)]
    [InlineData("192.168.1.1", false)]
    [InlineData("169.254.169.254", false)]
    [InlineData("100.64.0.1", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("224.0.0.1", false)]
    [InlineData("255.255.255.255", false)]
    [InlineData("::1", false)]
    [InlineData("::", false)]
    [InlineData("fe80::1", false)]
    [InlineData("fd12:3456::1", false)]
    [InlineData("ff02::1", false)]
    [InlineData("::ffff:127.0.0.1", false)]
    [InlineData("::ffff:10.1.2.3", false)]
    [InlineData("::ffff:8.8.8.8", true)]
    [InlineData("2002:7f00:1::1", false)]
    [InlineData("64:ff9b::a00:1", false)]
    [InlineData("172.32.0.1", true)]
    public void Only_globally_routable_addresses_are_public(string address, bool isPublic) =>
        Assert.Equal(isPublic, CallbackUrlPolicy.IsPublic(IPAddress.Parse(address)));

    [Fact]
    public void An_internal_address_is_reached_only_when_that_exact_address_is_listed()
    {
        var loopback = IPAddress.Parse("127.0.0.1");
        Assert.False(CallbackUrlPolicy.MayConnect(loopback, ["localhost"]));
        Assert.False(CallbackUrlPolicy.MayConnect(loopback, ["127.0.0.2"]));
        Assert.True(CallbackUrlPolicy.MayConnect(loopback, ["127.0.0.1"]));
        Assert.False(CallbackUrlPolicy.MayConnect(IPAddress.Parse("::ffff:127.0.0.1"), ["127.0.0.1"]));
        Assert.True(CallbackUrlPolicy.MayConnect(IPAddress.Parse("8.8.8.8"), ["hooks.example.com"]));
        // Metadata endpoints never, even when listed.
        Assert.False(CallbackUrlPolicy.MayConnect(IPAddress.Parse("169.254.169.254"), ["169.254.169.254"]));
        Assert.False(CallbackUrlPolicy.MayConnect(IPAddress.Parse("::ffff:169.254.169.254"), ["::ffff:169.254.169.254"]));
    }

    [Theory]
    [InlineData("hooks.example.com", "hooks.example.com", true)]
    [InlineData("HOOKS.example.com.", "hooks.example.com", true)]
    [InlineData("a.hooks.example.com", "hooks.example.com", false)]
    [InlineData("a.example.com", "*.example.com", true)]
    [InlineData("a.b.example.com", "*.example.com", true)]
    [InlineData("example.com", "*.example.com", false)]
    [InlineData("badexample.com", "*.example.com", false)]
    [InlineData("example.com.evil.net", "*.example.com", false)]
    [InlineData("10.0.0.5", "*.0.0.5", false)]
    [InlineData("::1", "[::1]", true)]
    [InlineData("0:0:0:0:0:0:0:1", "::1", true)]
    public void Hosts_match_exact_entries_and_subdomain_patterns(string host, string entry, bool allowed) =>
        Assert.Equal(allowed, CallbackUrlPolicy.IsHostAllowed(host, [entry]));

    [Theory]
    [InlineData("hooks.example.com", true)]
    [InlineData("*.example.com", true)]
    [InlineData("10.0.0.5", true)]
    [InlineData("::1", true)]
    [InlineData("*.com", false)]
    [InlineData("https://hooks.example.com", false)]
    [InlineData("hooks.example.com:443", false)]
    [InlineData("hooks.example.com/path", false)]
    [InlineData("169.254.169.254", false)]
    [InlineData("", false)]
    public void Allow_list_entries_are_validated(string entry, bool valid) =>
        Assert.Equal(valid, CallbackUrlPolicy.ValidateEntry(entry) is null);

    [Fact]
    public void Plain_http_is_accepted_only_for_hosts_listed_exactly()
    {
        var options = new CallbackOptions { AllowedHosts = ["hooks.example.com", "*.agents.example.org"] };
        Assert.Null(CallbackUrlPolicy.Check(new Uri("http://hooks.example.com/x"), options));
        Assert.Null(CallbackUrlPolicy.Check(new Uri("https://a.agents.example.org/x"), options));
        Assert.Contains("https", CallbackUrlPolicy.Check(new Uri("http://a.agents.example.org/x"), options), StringComparison.Ordinal);
        Assert.Contains("not enabled", CallbackUrlPolicy.Check(new Uri("https://hooks.example.com/x"), new CallbackOptions()), StringComparison.Ordinal);
    }
}

public sealed class CallbackSignatureTests
{
    private const string Secret = "whsec-test-secret-0123456789abcdefghij";
    private static readonly byte[] Body = Encoding.UTF8.GetBytes("""{"id":"x","status":"approved"}""");
    private static readonly DateTimeOffset At = DateTimeOffset.FromUnixTimeSeconds(1767225600);

    [Fact]
    public void The_header_is_the_timestamp_and_the_hmac_of_timestamp_dot_body()
    {
        // Computed independently (Python: hmac.new(secret, b"1767225600." + body, hashlib.sha256).hexdigest()).
        Assert.Equal("t=1767225600,v1=4e3c89236c5921fb1b9773a466192f9a8b04dadefe1018b85dbf91b90e8a5dd9", CallbackSignature.Header(Secret, At, Body));
    }

    [Fact]
    public void Verification_refuses_another_secret_a_changed_body_and_an_old_timestamp()
    {
        var header = CallbackSignature.Header(Secret, At, Body);
        var tolerance = TimeSpan.FromMinutes(5);
        Assert.True(CallbackSignature.Verify(Secret, header, Body, At.AddMinutes(4), tolerance));
        Assert.False(CallbackSignature.Verify(Secret + "x", header, Body, At, tolerance));
        Assert.False(CallbackSignature.Verify(Secret, header, Encoding.UTF8.GetBytes("""{"id":"x","status":"rejected"}"""), At, tolerance));
        Assert.False(CallbackSignature.Verify(Secret, header, Body, At.AddMinutes(6), tolerance));
        Assert.False(CallbackSignature.Verify(Secret, header.Replace("t=1767225600", "t=1767225601", StringComparison.Ordinal), Body, At, tolerance));
        Assert.False(CallbackSignature.Verify(Secret, null, Body, At, tolerance));
        Assert.False(CallbackSignature.Verify(Secret, "v1=abc", Body, At, tolerance));
    }

    [Fact]
    public void Generated_secrets_are_long_and_distinct()
    {
        var a = CallbackSignature.NewSecret();
        Assert.True(a.Length >= CallbackOptions.MinSecretLength);
        Assert.NotEqual(a, CallbackSignature.NewSecret());
    }

    [Fact]
    public void The_retry_delay_doubles_up_to_its_ceiling()
    {
        var options = new CallbackOptions { InitialRetryDelay = TimeSpan.FromSeconds(10), MaxRetryDelay = TimeSpan.FromMinutes(1) };
        Assert.Equal([10, 20, 40, 60, 60], Enumerable.Range(1, 5).Select(a => (int)options.RetryDelay(a).TotalSeconds));
        Assert.Equal(TimeSpan.FromMinutes(1), options.RetryDelay(1000));
    }
}
