using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace AgentSentinel;

/// <summary>A value that has no canonical form under RFC 8785 (a number outside the range of an IEEE 754 double, a
/// property name given twice, a string that is not well-formed UTF-16).</summary>
internal sealed class JcsException(string message) : Exception(message);

/// <summary>
/// The JSON Canonicalization Scheme of RFC 8785: object members sorted by their names compared as arrays of UTF-16 code
/// units, no whitespace, strings escaped as ECMAScript's <c>JSON.stringify</c> escapes them (only <c>"</c>, <c>\</c> and
/// the controls below U+0020; everything else as UTF-8), and numbers parsed as IEEE 754 doubles and written as
/// ECMAScript's <c>Number.prototype.toString</c> writes them. The hash of an approval's <c>action_inputs</c> is the
/// SHA-256 of these bytes. Compiled into the server and into the client library, so both hash inputs exactly alike.
/// </summary>
internal static class Jcs
{
    /// <summary>The canonical UTF-8 bytes of <paramref name="element"/>.</summary>
    public static byte[] Canonicalize(JsonElement element)
    {
        var builder = new StringBuilder();
        Write(element, builder);
        return Encoding.UTF8.GetBytes(builder.ToString());
    }

    /// <summary>The canonical UTF-8 bytes of the JSON text <paramref name="json"/>.</summary>
    public static byte[] Canonicalize(string json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowDuplicateProperties = false, MaxDepth = 256 });
        }
        catch (JsonException ex)
        {
            throw new JcsException($"Not JSON that can be canonicalized: {ex.Message}");
        }
        catch (InvalidOperationException ex)
        {
            throw new JcsException($"Not JSON that can be canonicalized: {ex.Message}");
        }
        using (document)
        {
            return Canonicalize(document.RootElement);
        }
    }

    /// <summary>SHA-256 (lowercase hex) of the canonical form of <paramref name="json"/>; a missing value (null) is hashed
    /// as the JSON literal <c>null</c>.</summary>
    public static string Sha256Hex(string? json) =>
        Convert.ToHexStringLower(SHA256.HashData(json is null ? "null"u8.ToArray() : Canonicalize(json)));

    /// <summary>SHA-256 (lowercase hex) of the canonical form of <paramref name="element"/>.</summary>
    public static string Sha256Hex(JsonElement element) => Convert.ToHexStringLower(SHA256.HashData(Canonicalize(element)));

    private static void Write(JsonElement element, StringBuilder output)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var members = new List<(string Name, JsonElement Value)>();
                foreach (var property in element.EnumerateObject())
                {
                    members.Add((Text(() => property.Name), property.Value));
                }
                // Ordinal string comparison in .NET compares UTF-16 code units, which is what RFC 8785 sorts by.
                members.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
                output.Append('{');
                for (var i = 0; i < members.Count; i++)
                {
                    if (i > 0)
                    {
                        if (members[i].Name == members[i - 1].Name)
                        {
                            throw new JcsException($"The property name '{members[i].Name}' is given twice.");
                        }
                        output.Append(',');
                    }
                    WriteString(members[i].Name, output);
                    output.Append(':');
                    Write(members[i].Value, output);
                }
                output.Append('}');
                break;
            case JsonValueKind.Array:
                output.Append('[');
                var first = true;
                foreach (var item in element.EnumerateArray())
                {
                    if (!first)
                    {
                        output.Append(',');
                    }
                    first = false;
                    Write(item, output);
                }
                output.Append(']');
                break;
            case JsonValueKind.String:
                WriteString(Text(element.GetString), output);
                break;
            case JsonValueKind.Number:
                if (!element.TryGetDouble(out var number) || !double.IsFinite(number))
                {
                    throw new JcsException($"The number {Excerpt(element.GetRawText())} is outside the range of an IEEE 754 double.");
                }
                output.Append(FormatNumber(number));
                break;
            case JsonValueKind.True:
                output.Append("true");
                break;
            case JsonValueKind.False:
                output.Append("false");
                break;
            case JsonValueKind.Null:
                output.Append("null");
                break;
            default:
                throw new JcsException($"A JSON value of kind {element.ValueKind} has no canonical form.");
        }
    }

    /// <summary>Reads a string, refusing one that is not well-formed UTF-16 (a lone surrogate escape).</summary>
    private static string Text(Func<string?> read)
    {
        string text;
        try
        {
            text = read() ?? "";
        }
        catch (InvalidOperationException ex)
        {
            throw new JcsException($"A string is not well-formed text: {ex.Message}");
        }
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                throw new JcsException("A string contains a lone UTF-16 surrogate.");
            }
        }
        return text;
    }

    private static void WriteString(string value, StringBuilder output)
    {
        output.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"':
                    output.Append("\\\"");
                    break;
                case '\\':
                    output.Append("\\\\");
                    break;
                case '\b':
                    output.Append("\\b");
                    break;
                case '\f':
                    output.Append("\\f");
                    break;
                case '\n':
                    output.Append("\\n");
                    break;
                case '\r':
                    output.Append("\\r");
                    break;
                case '\t':
                    output.Append("\\t");
                    break;
                case < ' ':
                    output.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    break;
                default:
                    output.Append(c);
                    break;
            }
        }
        output.Append('"');
    }

    /// <summary>A finite double as ECMAScript's <c>Number.prototype.toString</c> writes it (ECMA-262, Number::toString):
    /// the shortest digits that read back as the same double, in plain notation from 1e-6 up to (not including) 1e21
    /// and in exponent notation (<c>1e+21</c>, <c>5e-324</c>) outside it; minus zero is <c>0</c>.</summary>
    public static string FormatNumber(double value)
    {
        if (!double.IsFinite(value))
        {
            throw new JcsException("NaN and infinities have no JSON form.");
        }
        if (value == 0)
        {
            return "0";
        }
        // "R" gives the shortest round-trip digits (correctly rounded, the closest when several are as short), as
        // ECMAScript requires; only the layout differs, and it is rebuilt below from the digits and the exponent.
        var (digits, exponent) = Decompose(Math.Abs(value).ToString("R", CultureInfo.InvariantCulture));
        // ECMAScript's n: the value is 0.d1d2...dk x 10^n.
        var k = digits.Length;
        var n = exponent + 1;
        var result = new StringBuilder();
        if (value < 0)
        {
            result.Append('-');
        }
        if (k <= n && n <= 21)
        {
            result.Append(digits).Append('0', n - k);
        }
        else if (0 < n && n <= 21)
        {
            result.Append(digits, 0, n).Append('.').Append(digits, n, k - n);
        }
        else if (-6 < n && n <= 0)
        {
            result.Append("0.").Append('0', -n).Append(digits);
        }
        else
        {
            result.Append(digits[0]);
            if (k > 1)
            {
                result.Append('.').Append(digits, 1, k - 1);
            }
            var e = n - 1;
            result.Append('e').Append(e >= 0 ? '+' : '-').Append(Math.Abs(e).ToString(CultureInfo.InvariantCulture));
        }
        return result.ToString();
    }

    /// <summary>The significant digits (no leading or trailing zeros) of a positive number written by .NET, and the
    /// power of ten of the first digit.</summary>
    private static (string Digits, int Exponent) Decompose(string text)
    {
        var exponent = 0;
        var e = text.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            exponent = int.Parse(text.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            text = text[..e];
        }
        var point = text.IndexOf('.', StringComparison.Ordinal);
        var integerPart = point >= 0 ? text[..point] : text;
        var fraction = point >= 0 ? text[(point + 1)..] : "";
        var all = integerPart + fraction;
        // The power of ten of the first character of "all" is (integer digits - 1) + exponent.
        var firstPower = integerPart.Length - 1 + exponent;
        var leading = 0;
        while (leading < all.Length - 1 && all[leading] == '0')
        {
            leading++;
        }
        var digits = all[leading..].TrimEnd('0');
        return (digits.Length == 0 ? "0" : digits, firstPower - leading);
    }

    private static string Excerpt(string text) => text.Length <= 40 ? text : text[..40] + "...";
}
