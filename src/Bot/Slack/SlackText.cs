using System.Globalization;
using System.Text;

namespace AgentSentinel.Bot.Slack;

/// <summary>Agent-supplied text made safe for Slack: <c>&amp;</c>, <c>&lt;</c> and <c>&gt;</c> escaped exactly once, so no
/// text can mention <c>@channel</c>, users or groups or write a link; cut to a limit without splitting an escape.
/// Text that came from an agent also goes through <see cref="Plain"/>, <see cref="Inert"/>, <see cref="Code"/> or
/// <see cref="CodeBlock"/>, which break what Slack would turn into a link by itself (URLs, bare domains, e-mail
/// addresses, <c>#channel</c> names) and keep mrkdwn from formatting it; only the product's own links stay clickable.</summary>
public static class SlackText
{
    public const string Ellipsis = "…";

    /// <summary>Invisible, and not a line-break opportunity: placed inside a pattern, Slack no longer recognises it.</summary>
    private const char WordJoiner = '\u2060';

    /// <summary>Stands in for the dot of a domain name (<c>evil․example</c>), which no client links.</summary>
    private const char DotLeader = '\u2024';

    /// <summary>What a person is told privately when Slack did not open the modal of their click.</summary>
    public static string ModalNotOpened(TimeSpan? retryAfter) => retryAfter is { } wait
        ? $"Slack is limiting how often this app can open forms, so the form did not open and nothing was changed; please click again in {Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds))} s."
        : "Slack did not open the form in time, so nothing was changed; please click again.";

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

    /// <summary>Agent text for a code block: escaped, unlinked, and without a backtick (each becomes <c>ˋ</c>), so it
    /// can neither close the block nor open another.</summary>
    public static string CodeBlock(string? text, int limit)
    {
        const string fence = "```";
        return fence + EscapeAndTruncate(Neutralise(text, Mode.Code), limit - (2 * fence.Length)) + fence;
    }

    /// <summary>Agent text for a plain_text object: escaped and unlinked.</summary>
    public static string Plain(string? text, int limit) => EscapeAndTruncate(Neutralise(text, Mode.Plain), limit);

    /// <summary>Agent text inside mrkdwn: escaped, unlinked, and with <c>* _ ~ `</c> replaced by look-alikes
    /// (<c>∗ ˍ ∼ ˋ</c>) so nothing is bold, italic, struck or code.</summary>
    public static string Inert(string? text, int limit) => EscapeAndTruncate(Neutralise(text, Mode.Markdown), limit);

    /// <summary>An agent's identifier as inline code in mrkdwn: escaped, unlinked, and unable to end the code span.</summary>
    public static string Code(string? text, int limit) => "`" + EscapeAndTruncate(Neutralise(text, Mode.Code), limit - 2) + "`";

    private enum Mode
    {
        Plain,
        Markdown,
        Code,
    }

    /// <summary>Breaks every pattern Slack links by itself: <c>scheme://</c> and <c>mailto:</c> get a word joiner before
    /// their slashes or colon, a dot between a name and a letter (<c>www.</c>, <c>example.com</c>, e-mail domains)
    /// becomes a dot leader, and <c>#name</c> and <c>@name</c> a word joiner after the sign.</summary>
    private static string Neutralise(string? text, Mode mode)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "";
        }
        var builder = new StringBuilder(text.Length + 8);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var next = i + 1 < text.Length ? text[i + 1] : '\0';
            switch (c)
            {
                case ':' when next == '/' && i + 2 < text.Length && text[i + 2] == '/':
                    builder.Append(':').Append(WordJoiner);
                    continue;
                case ':' when i >= 6 && text.AsSpan(i - 6, 6).Equals("mailto", StringComparison.OrdinalIgnoreCase):
                    builder.Append(WordJoiner).Append(':');
                    continue;
                case '.' when i > 0 && char.IsLetterOrDigit(text[i - 1]) && char.IsLetter(next):
                    builder.Append(DotLeader);
                    continue;
                case '#' or '@' when char.IsLetterOrDigit(next) || next is '!' or '-' or '_':
                    builder.Append(c).Append(WordJoiner);
                    continue;
                case '`' when mode != Mode.Plain:
                    builder.Append('ˋ');
                    continue;
                case '*' when mode == Mode.Markdown:
                    builder.Append('∗');
                    continue;
                case '_' when mode == Mode.Markdown:
                    builder.Append('ˍ');
                    continue;
                case '~' when mode == Mode.Markdown:
                    builder.Append('∼');
                    continue;
                default:
                    builder.Append(c);
                    continue;
            }
        }
        return builder.ToString();
    }

    /// <summary>A date Slack shows in each reader's time zone, with a UTC fallback.</summary>
    public static string Date(DateTimeOffset at) => string.Create(CultureInfo.InvariantCulture,
        $"<!date^{at.ToUnixTimeSeconds()}^{{date_short_pretty}} at {{time}}|{at.UtcDateTime:yyyy-MM-dd HH:mm} UTC>");

    /// <summary>One of the product's own links, with a label (which may be an agent's text) made inert.</summary>
    public static string Link(string url, string label) => $"<{url.Replace("|", "%7C", StringComparison.Ordinal).Replace(">", "%3E", StringComparison.Ordinal)}|{Inert(label, int.MaxValue)}>";
}
