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

    private const string Url = "https://hooks.example.com/agent";
    private const string KeyId = "0193a1b2-0000-7000-8000-000000000001";

    [Fact]
    public void The_header_is_the_timestamp_and_the_hmac_of_timestamp_key_id_url_and_body()
    {
        // Computed independently (Python: hmac.new(secret, b"1767225600\n" + key_id + b"\n" + url + b"\n" + body, hashlib.sha256).hexdigest()).
        Assert.Equal("t=1767225600,v2=209cdc775da50d54b4d3025603fb9f8e1d50bdcf7cdd10ed04a2795ec1af9992", CallbackSignature.Header(Secret, At, Url, KeyId, Body));
    }

    [Fact]
    public void Verification_refuses_another_secret_a_changed_body_and_an_old_timestamp()
    {
        var header = CallbackSignature.Header(Secret, At, Url, KeyId, Body);
        var tolerance = TimeSpan.FromMinutes(5);
        Assert.True(CallbackSignature.Verify(Secret, header, Url, KeyId, Body, At.AddMinutes(4), tolerance));
        Assert.False(CallbackSignature.Verify(Secret + "x", header, Url, KeyId, Body, At, tolerance));
        Assert.False(CallbackSignature.Verify(Secret, header, Url, KeyId, Encoding.UTF8.GetBytes("""{"id":"x","status":"rejected"}"""), At, tolerance));
        Assert.False(CallbackSignature.Verify(Secret, header, Url, KeyId, Body, At.AddMinutes(6), tolerance));
        Assert.False(CallbackSignature.Verify(Secret, header.Replace("t=1767225600", "t=1767225601", StringComparison.Ordinal), Url, KeyId, Body, At, tolerance));
        Assert.False(CallbackSignature.Verify(Secret, null, Url, KeyId, Body, At, tolerance));
        Assert.False(CallbackSignature.Verify(Secret, "v2=abc", Url, KeyId, Body, At, tolerance));
    }

    [Fact]
    public void A_body_signed_for_one_agents_endpoint_does_not_verify_at_another_agents()
    {
        var header = CallbackSignature.Header(Secret, At, Url, KeyId, Body);
        var tolerance = TimeSpan.FromMinutes(5);
        // Same secret, same body, same time: another URL or another requesting key does not verify.
        Assert.False(CallbackSignature.Verify(Secret, header, "https://hooks.example.com/other-agent", KeyId, Body, At, tolerance));
        Assert.False(CallbackSignature.Verify(Secret, header, Url, "0193a1b2-0000-7000-8000-000000000002", Body, At, tolerance));
        // A line break cannot move a boundary between the signed parts.
        Assert.False(CallbackSignature.Verify(Secret, header, Url + "\n" + KeyId, "x", Body, At, tolerance));
        // The signed string is no longer {t}.{body}: a receiver checking that string refuses it.
        var old = Convert.ToHexStringLower(System.Security.Cryptography.HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), (byte[])[.. "1767225600."u8, .. Body]));
        Assert.DoesNotContain(old, header, StringComparison.Ordinal);
        Assert.False(CallbackSignature.Verify(Secret, "t=1767225600,v1=" + old, Url, KeyId, Body, At, tolerance));
    }

    // The README's C# verification snippet, verbatim (the test below checks that the README still says exactly this).
    private static bool ReadmeVerify(string secret, string header, string keyId, string url, byte[] rawBody, TimeSpan tolerance)
    {
        var parts = header.Split(',').Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        if (!parts.TryGetValue("t", out var t) || !parts.TryGetValue("v2", out var sig) || !long.TryParse(t, out var seconds)
            || Math.Abs(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - seconds) > tolerance.TotalSeconds)
        {
            return false;
        }
        var message = Encoding.UTF8.GetBytes($"{t}\n{keyId}\n{url}\n").Concat(rawBody).ToArray();
        var expected = Convert.ToHexStringLower(System.Security.Cryptography.HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), message));
        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(sig));
    }

    [Fact]
    public void The_readme_verification_snippets_accept_the_servers_signature_and_only_for_the_right_key_and_url()
    {
        var readme = File.ReadAllText(Path.Combine(AgentSentinel.Testing.Repository.Root, "README.md"));
        var source = File.ReadAllText(Path.Combine(AgentSentinel.Testing.Repository.Root, "tests", "AgentSentinel.Core.Tests", "Unit", "CallbackPolicyTests.cs"));
        static string Squash(string text) => System.Text.RegularExpressions.Regex.Replace(
            text.Replace("System.Security.Cryptography.", "", StringComparison.Ordinal).Replace("ReadmeVerify(", "Verify(", StringComparison.Ordinal), @"\s+", " ");
        var start = source.IndexOf("private static bool ReadmeVerify(", StringComparison.Ordinal);
        var end = source.IndexOf("\n    }\n", start, StringComparison.Ordinal) + 6;
        Assert.Contains(Squash(source[start..end]).Replace("private static bool", "static bool", StringComparison.Ordinal), Squash(readme), StringComparison.Ordinal);

        var header = CallbackSignature.Header(Secret, DateTimeOffset.UtcNow, Url, KeyId, Body);
        var tolerance = TimeSpan.FromMinutes(5);
        Assert.True(ReadmeVerify(Secret, header, KeyId, Url, Body, tolerance));
        Assert.False(ReadmeVerify(Secret, header, "another-key", Url, Body, tolerance));
        Assert.False(ReadmeVerify(Secret, header, KeyId, "https://hooks.example.com/other", Body, tolerance));

        // The Python snippet, run as written in the README.
        var python = System.Text.RegularExpressions.Regex.Match(readme, "```python\n(import hashlib, hmac, time\n.*?)```", System.Text.RegularExpressions.RegexOptions.Singleline).Groups[1].Value;
        Assert.NotEmpty(python);
        var script = python + $$"""

            import sys
            body = {{"b'" + Encoding.UTF8.GetString(Body) + "'"}}
            ok = verify("{{Secret}}", "{{header}}", "{{KeyId}}", "{{Url}}", body)
            other_key = verify("{{Secret}}", "{{header}}", "another-key", "{{Url}}", body)
            other_url = verify("{{Secret}}", "{{header}}", "{{KeyId}}", "https://hooks.example.com/other", body)
            print(ok, other_key, other_url)
            """;
        var file = Path.Combine(AgentSentinel.Testing.TestPaths.NewTempDirectory(), "verify.py");
        File.WriteAllText(file, script);
        using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("python3", file) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.Equal("True False False", output.Trim());
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
