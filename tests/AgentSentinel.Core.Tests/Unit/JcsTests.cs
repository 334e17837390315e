using System.Security.Cryptography;
using System.Text;
using AgentSentinel.Core.Configuration;
using AgentSentinel.Core.Receipts;

namespace AgentSentinel.Core.Tests.Unit;

/// <summary>RFC 8785 (JSON Canonicalization Scheme) against the RFC's own examples: the sample of section 3.2.2, the
/// property sorting of section 3.2.3, and the number samples of appendix B given as IEEE 754 bit patterns.</summary>
public sealed class JcsTests
{
    private static string Canonical(string json) => Encoding.UTF8.GetString(Jcs.Canonicalize(json));

    [Fact]
    public void The_rfc_sample_object_canonicalizes_to_the_rfc_output()
    {
        const string input = """
            {
              "numbers": [333333333.33333329, 1E30, 4.50,
                          2e-3, 0.000000000000000000000000001],
              "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
              "literals": [null, true, false]
            }
            """;
        Assert.Equal(
            "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}",
            Canonical(input));
    }

    [Fact]
    public void Property_names_are_sorted_by_utf16_code_units_not_by_code_points()
    {
        const string input = """
            {
              "\u20ac": "Euro Sign",
              "\r": "Carriage Return",
              "\ufb33": "Hebrew Letter Dalet With Dagesh",
              "1": "One",
              "\ud83d\ude00": "Emoji: Grinning Face",
              "\u0080": "Control",
              "\u00f6": "Latin Small Letter O With Diaeresis"
            }
            """;
        var names = System.Text.Json.JsonDocument.Parse(Jcs.Canonicalize(input)).RootElement.EnumerateObject().Select(p => p.Value.GetString()).ToList();
        // U+1F600 is the surrogate pair D83D DE00, which sorts before U+FB33 by code units (after it by code points).
        Assert.Equal(
            ["Carriage Return", "One", "Control", "Latin Small Letter O With Diaeresis", "Euro Sign", "Emoji: Grinning Face", "Hebrew Letter Dalet With Dagesh"],
            names);
    }

    [Theory]
    [InlineData(0x0000000000000000UL, "0")]
    [InlineData(0x8000000000000000UL, "0")]
    [InlineData(0x0000000000000001UL, "5e-324")]
    [InlineData(0x8000000000000001UL, "-5e-324")]
    [InlineData(0x7fefffffffffffffUL, "1.7976931348623157e+308")]
    [InlineData(0xffefffffffffffffUL, "-1.7976931348623157e+308")]
    [InlineData(0x4340000000000000UL, "9007199254740992")]
    [InlineData(0xc340000000000000UL, "-9007199254740992")]
    [InlineData(0x4430000000000000UL, "295147905179352830000")]
    [InlineData(0x44b52d02c7e14af5UL, "9.999999999999997e+22")]
    [InlineData(0x44b52d02c7e14af6UL, "1e+23")]
    [InlineData(0x44b52d02c7e14af7UL, "1.0000000000000001e+23")]
    [InlineData(0x444b1ae4d6e2ef4eUL, "999999999999999700000")]
    [InlineData(0x444b1ae4d6e2ef4fUL, "999999999999999900000")]
    [InlineData(0x444b1ae4d6e2ef50UL, "1e+21")]
    [InlineData(0x3eb0c6f7a0b5ed8cUL, "9.999999999999997e-7")]
    [InlineData(0x3eb0c6f7a0b5ed8dUL, "0.000001")]
    [InlineData(0x41b3de4355555553UL, "333333333.3333332")]
    [InlineData(0x41b3de4355555554UL, "333333333.33333325")]
    [InlineData(0x41b3de4355555555UL, "333333333.3333333")]
    [InlineData(0x41b3de4355555556UL, "333333333.3333334")]
    [InlineData(0x41b3de4355555557UL, "333333333.33333343")]
    [InlineData(0xbecbf647612f3696UL, "-0.0000033333333333333333")]
    [InlineData(0x43143ff3c1cb0959UL, "1424953923781206.2")]
    public void Numbers_are_written_as_ecmascript_writes_them(ulong bits, string expected)
    {
        var value = BitConverter.UInt64BitsToDouble(bits);
        Assert.Equal(expected, Jcs.FormatNumber(value));
        // The same through JSON text: the shortest round-trip form read back gives the same canonical number.
        Assert.Equal($"[{expected}]", Canonical($"[{value.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}]"));
    }

    [Theory]
    [InlineData(0x7fffffffffffffffUL)]
    [InlineData(0x7ff0000000000000UL)]
    [InlineData(0xfff0000000000000UL)]
    public void NaN_and_infinities_have_no_canonical_form(ulong bits) =>
        Assert.Throws<JcsException>(() => Jcs.FormatNumber(BitConverter.UInt64BitsToDouble(bits)));

    [Theory]
    [InlineData("""{"n": 1e400}""")]
    [InlineData("""{"n": -1e400}""")]
    [InlineData("""{"a": 1, "a": 2}""")]
    [InlineData("""{"s": "\ud800"}""")]
    [InlineData("""{"\udc00": 1}""")]
    public void Input_without_a_canonical_form_is_refused(string json)
    {
        Assert.Throws<JcsException>(() => Jcs.Canonicalize(json));
        Assert.NotNull(ActionInputsHash.Problem(json));
        Assert.Throws<ArgumentException>(() => ActionInputsHash.Of(json));
    }

    [Fact]
    public void Whitespace_member_order_and_number_spelling_do_not_change_the_hash()
    {
        var a = ActionInputsHash.Of("""{"amount": 2500, "to": "ACC-2", "from": "ACC-1", "tags": ["a", {"y": 1.50, "x": 1E2}]}""");
        var b = ActionInputsHash.Of("""{"from":"ACC-1","tags":["a",{"x":100,"y":1.5}],"to":"ACC-2","amount":2.5e3}""");
        Assert.Equal(a, b);
        var expected = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("""{"amount":2500,"from":"ACC-1","tags":["a",{"x":100,"y":1.5}],"to":"ACC-2"}""")));
        Assert.Equal(expected, a);
        Assert.NotEqual(a, ActionInputsHash.Of("""{"amount": 2501, "to": "ACC-2", "from": "ACC-1", "tags": ["a", {"y": 1.50, "x": 1E2}]}"""));
    }

    [Fact]
    public void No_inputs_hash_as_the_json_literal_null() =>
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData("null"u8)), ActionInputsHash.Of(null));

    [Fact]
    public void Text_beyond_ascii_is_written_as_utf8_and_controls_as_lowercase_escapes() =>
        Assert.Equal("{\"k\":\"é<>&'\\u001f\\t\u2028\"}", Canonical("{\"k\":\"\\u00e9<>&'\\u001F\\t\\u2028\"}"));

    [Fact]
    public void A_configured_signing_key_must_be_a_p256_private_key()
    {
        using var p256 = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        Assert.Null(ReceiptOptions.Problem(p256.ExportPkcs8PrivateKeyPem()));
        Assert.Null(ReceiptOptions.Problem(p256.ExportECPrivateKeyPem()));
        Assert.Contains("P-256", ReceiptOptions.Problem(p384.ExportPkcs8PrivateKeyPem()), StringComparison.Ordinal);
        Assert.NotNull(ReceiptOptions.Problem(p256.ExportSubjectPublicKeyInfoPem()));
        Assert.NotNull(ReceiptOptions.Problem("not a key"));

        var options = new AgentSentinelOptions { Receipts = new ReceiptOptions { SigningKey = p384.ExportPkcs8PrivateKeyPem() } };
        var result = new AgentSentinelOptionsValidator().Validate(null, options);
        var failure = Assert.Single(result.Failures!);
        Assert.StartsWith("AgentSentinel:Receipts:SigningKey cannot sign receipts", failure, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void A_key_id_is_the_rfc7638_thumbprint_of_the_public_key()
    {
        using var key = ReceiptSigningKey.Generate();
        var members = $$"""{"crv":"P-256","kty":"EC","x":"{{key.X}}","y":"{{key.Y}}"}""";
        Assert.Equal(System.Buffers.Text.Base64Url.EncodeToString(SHA256.HashData(Encoding.UTF8.GetBytes(members))), key.Kid);
        using var again = ReceiptSigningKey.ImportPem(key.ExportPem());
        Assert.Equal(key.Kid, again.Kid);
    }
}
