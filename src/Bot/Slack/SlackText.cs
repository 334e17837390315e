using System.Globalization;
using System.Text;

namespace AgentSentinel.Bot.Slack;

/// <summary>Agent-supplied text made safe for Slack: <c>&amp;</c>, <c>&lt;</c> and <c>&gt;</c> escaped exactly once, so no
/// text can mention <c>@channel</c>, users or groups or render a link; cut to a limit without splitting an escape.</summary>
public static class SlackText
{
    public const string Ellipsis = "…";

    public static string Escape(string? text) => EscapeAndTruncate(text, int.MaxValue);

    /// <summary>Escapes and, when the escaped text is longer than <paramref name="limit"/>, cuts it and ends it with "…".</summary>
    public static string EscapeAndTruncate(string? text, int limit)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "";
        }
        var builder = new StringBuilder(Math.Min(text.Length + 16, limit == int.MaxValue ? text.Length + 16 : limit));
        for (var i = 0; i < text.Length; i++)
        {
            var piece = text[i] switch
            {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                _ => null,
            };
            var length = piece?.Length ?? (char.IsHighSurrogate(text[i]) && i + 1 < text.Length ? 2 : 1);
            if (builder.Length + length > limit - (i + length < text.Length ? Ellipsis.Length : 0))
            {
                return builder.Append(Ellipsis).ToString();
            }
            if (piece is not null)
            {
                builder.Append(piece);
            }
            else
            {
                builder.Append(text, i, length);
                i += length - 1;
            }
        }
        return builder.ToString();
    }

    /// <summary>Text for a code block: escaped, and unable to close the block early.</summary>
    public static string CodeBlock(string? text, int limit)
    {
        const string fence = "```";
        var safe = (text ?? "").Replace(fence, "``\u200b`", StringComparison.Ordinal);
        return fence + EscapeAndTruncate(safe, limit - (2 * fence.Length)) + fence;
    }

    /// <summary>Plain text cut to a limit (for plain_text objects, whose content Slack shows as it is once escaped).</summary>
    public static string Plain(string? text, int limit) => EscapeAndTruncate(text, limit);

    /// <summary>A date Slack shows in each reader's time zone, with a UTC fallback.</summary>
    public static string Date(DateTimeOffset at) => string.Create(CultureInfo.InvariantCulture,
        $"<!date^{at.ToUnixTimeSeconds()}^{{date_short_pretty}} at {{time}}|{at.UtcDateTime:yyyy-MM-dd HH:mm} UTC>");

    /// <summary>A link with a label, both made safe.</summary>
    public static string Link(string url, string label) => $"<{url.Replace("|", "%7C", StringComparison.Ordinal).Replace(">", "%3E", StringComparison.Ordinal)}|{Escape(label)}>";
}
