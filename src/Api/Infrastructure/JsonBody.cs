using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using AgentSentinel.Core.Configuration;
using Microsoft.Extensions.Options;

namespace AgentSentinel.Api.Infrastructure;

/// <summary>A request body read with a size limit and parsed as one JSON object, with field readers that
/// answer wrong types and sizes with a message naming the field.</summary>
public sealed class JsonBody : IDisposable
{
    private const int MaxDepth = 32;
    private readonly JsonDocument? _document;

    private JsonBody(JsonDocument? document, byte[] raw)
    {
        _document = document;
        Hash = Convert.ToHexStringLower(SHA256.HashData(raw));
    }

    /// <summary>SHA-256 of the raw body.</summary>
    public string Hash { get; }

    public bool IsEmpty => _document is null;

    public void Dispose() => _document?.Dispose();

    /// <summary>Reads the body. An empty body is allowed when <paramref name="allowEmpty"/>; otherwise it must be a JSON object.</summary>
    public static async Task<JsonBody> ReadAsync(HttpContext context, bool allowEmpty)
    {
        var limit = context.RequestServices.GetRequiredService<IOptions<AgentSentinelOptions>>().Value.Api.MaxRequestBodyBytes;
        var request = context.Request;
        if (request.ContentLength > limit)
        {
            throw new BodyException(StatusCodes.Status413PayloadTooLarge, $"The request body is larger than the limit of {limit} bytes.");
        }
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > limit)
            {
                throw new BodyException(StatusCodes.Status413PayloadTooLarge, $"The request body is larger than the limit of {limit} bytes.");
            }
        }
        var raw = buffer.ToArray();
        if (raw.AsSpan().Trim(" \t\r\n"u8).IsEmpty)
        {
            return allowEmpty
                ? new JsonBody(null, raw)
                : throw new BodyException(StatusCodes.Status400BadRequest, "A JSON object body is required.");
        }
        var contentType = request.ContentType;
        if (contentType is not null && !contentType.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            throw new BodyException(StatusCodes.Status415UnsupportedMediaType, $"The body must be JSON (Content-Type: application/json), not '{contentType}'.");
        }
        return Parse(raw);
    }

    /// <summary>Parses <paramref name="raw"/> as one JSON object, with the same checks as a request body.</summary>
    public static JsonBody Parse(byte[] raw)
    {
        JsonDocument document;
        try
        {
            // A name given twice is ambiguous (parsers disagree on which one counts), so it is refused.
            document = JsonDocument.Parse(raw, new JsonDocumentOptions { MaxDepth = MaxDepth, AllowDuplicateProperties = false });
        }
        catch (JsonException ex)
        {
            throw new BodyException(StatusCodes.Status400BadRequest, $"The body is not valid JSON: {ex.Message}");
        }
        catch (InvalidOperationException ex)
        {
            // A property name with a lone UTF-16 surrogate escape (such as "\ud800") cannot be compared with others.
            throw new BodyException(StatusCodes.Status400BadRequest, $"The body is not valid JSON: {ex.Message}");
        }
        if (!IsValidUnicode(document.RootElement))
        {
            document.Dispose();
            throw new BodyException(StatusCodes.Status400BadRequest, "The body is not valid JSON: a string contains a lone UTF-16 surrogate escape (such as \\ud800), which is not text.");
        }
        var kind = document.RootElement.ValueKind;
        if (kind != JsonValueKind.Object)
        {
            document.Dispose();
            throw new BodyException(StatusCodes.Status400BadRequest, $"The body must be a JSON object, not {Describe(kind)}.");
        }
        return new JsonBody(document, raw);
    }

    /// <summary>True when every string and property name decodes to well-formed UTF-16 text (JSON lets an escape
    /// name half of a surrogate pair, which no text column can store).</summary>
    private static bool IsValidUnicode(JsonElement element)
    {
        try
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.String:
                    _ = element.GetString();
                    return true;
                case JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray())
                    {
                        if (!IsValidUnicode(item))
                        {
                            return false;
                        }
                    }
                    return true;
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        _ = property.Name;
                        if (!IsValidUnicode(property.Value))
                        {
                            return false;
                        }
                    }
                    return true;
                default:
                    return true;
            }
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private bool TryGet(string name, out JsonElement value)
    {
        value = default;
        return _document is not null && _document.RootElement.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null;
    }

    public string? String(string name, int maxLength, bool required = false)
    {
        if (!TryGet(name, out var value))
        {
            return required ? throw Invalid(name, $"'{name}' is required.") : null;
        }
        if (value.ValueKind != JsonValueKind.String)
        {
            throw Invalid(name, $"'{name}' must be a string, not {Describe(value.ValueKind)}.");
        }
        var text = value.GetString()!;
        if (required && string.IsNullOrWhiteSpace(text))
        {
            throw Invalid(name, $"'{name}' must not be empty.");
        }
        if (text.Length > maxLength)
        {
            throw Invalid(name, $"'{name}' is {text.Length} characters long; the limit is {maxLength}.");
        }
        if (text.Contains('\0', StringComparison.Ordinal))
        {
            throw Invalid(name, $"'{name}' must not contain NUL characters.");
        }
        return text;
    }

    /// <summary>A name or an identifier: a <see cref="String"/> that may not contain control characters (line breaks,
    /// tabs, escape, C1 controls, line separators, bidirectional marks), which could forge log lines or disguise it.</summary>
    public string? Name(string name, int maxLength, bool required = false)
    {
        var text = String(name, maxLength, required);
        RefuseControlCharacters(name, text);
        return text;
    }

    /// <summary>Refuses a name or an identifier that contains a control character, with a 400 naming the field.</summary>
    public static void RefuseControlCharacters(string field, string? text)
    {
        if (Core.ControlCharacters.IndexOf(text) is var at and >= 0)
        {
            throw Invalid(field, string.Create(CultureInfo.InvariantCulture,
                $"'{field}' must not contain control characters (line breaks, tabs, escape, line separators or bidirectional marks); found U+{(int)text![at]:X4} at position {at}."));
        }
    }

    public decimal? Decimal(string name, decimal min, decimal max)
    {
        if (!TryGet(name, out var value))
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.Number)
        {
            throw Invalid(name, $"'{name}' must be a number, not {Describe(value.ValueKind)}.");
        }
        if (!value.TryGetDecimal(out var number) || number < min || number > max)
        {
            throw Invalid(name, string.Create(CultureInfo.InvariantCulture, $"'{name}' must be a number between {min} and {max}."));
        }
        return number;
    }

    public int? Integer(string name, int min, int max)
    {
        if (!TryGet(name, out var value))
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.Number)
        {
            throw Invalid(name, $"'{name}' must be a whole number, not {Describe(value.ValueKind)}.");
        }
        // Accept 300.0 as 300; refuse 300.5.
        if (!value.TryGetDecimal(out var number) || number != decimal.Truncate(number) || number < min || number > max)
        {
            throw Invalid(name, $"'{name}' must be a whole number between {min} and {max}.");
        }
        return (int)number;
    }

    /// <summary>A JSON object, returned as compact JSON text.</summary>
    public string? Object(string name, int maxBytes)
    {
        if (!TryGet(name, out var value))
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw Invalid(name, $"'{name}' must be a JSON object, not {Describe(value.ValueKind)}.");
        }
        var text = JsonSerializer.Serialize(value);
        if (System.Text.Encoding.UTF8.GetByteCount(text) > maxBytes)
        {
            throw Invalid(name, $"'{name}' is larger than the limit of {maxBytes} bytes.");
        }
        return text;
    }

    public List<JsonElement>? Array(string name, bool required = false)
    {
        if (!TryGet(name, out var value))
        {
            return required ? throw Invalid(name, $"'{name}' is required.") : null;
        }
        if (value.ValueKind != JsonValueKind.Array)
        {
            throw Invalid(name, $"'{name}' must be an array, not {Describe(value.ValueKind)}.");
        }
        return [.. value.EnumerateArray()];
    }

    /// <summary>A property bound to a typed value; type errors and unknown fields become a 400 naming the path.</summary>
    public T? Deserialize<T>(string name, JsonSerializerOptions options, bool required = false) where T : class
    {
        if (!TryGet(name, out var value))
        {
            return required ? throw Invalid(name, $"'{name}' is required.") : null;
        }
        try
        {
            return value.Deserialize<T>(options) ?? throw Invalid(name, $"'{name}' must not be null.");
        }
        catch (JsonException ex)
        {
            var path = ex.Path is { Length: > 1 } p ? name + p[1..] : name;
            throw Invalid(name, $"'{path}' is not valid: {ex.Message.Split(" Path:", 2)[0]}");
        }
    }

    public T? Enum<T>(string name, TryParse<T> parse, IReadOnlyCollection<string> allowed) where T : struct
    {
        var text = String(name, 50);
        if (text is null)
        {
            return null;
        }
        return parse(text, out var result)
            ? result
            : throw Invalid(name, $"'{name}' must be one of {string.Join(", ", allowed)}; got '{text}'.");
    }

    public delegate bool TryParse<T>(string? text, out T value);

    public static BodyException Invalid(string field, string detail) => new(StatusCodes.Status400BadRequest, detail, field);

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}

/// <summary>A request the API refuses, with the status and sentence to answer it with.</summary>
public sealed class BodyException(int statusCode, string detail, string? field = null) : Exception(detail)
{
    public int StatusCode { get; } = statusCode;
    public string? Field { get; } = field;
}
