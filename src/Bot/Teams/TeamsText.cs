using System.Text;

namespace AgentSentinel.Bot.Teams;

/// <summary>
/// Agent text made inert for Adaptive Card markdown (TextBlock and Fact values): markdown punctuation is
/// backslash-escaped so nothing becomes a link, emphasis or list, and URL schemes, <c>mailto:</c>, <c>www.</c> and the
/// dots of bare domains are broken with a word joiner so Teams does not turn them into links. Cut to a limit with an ellipsis.
/// </summary>
public static class TeamsText
{
    private const char WordJoiner = '\u2060';
    private const string Special = "\\`*_{}[]()#+-.!|>~<";

    public static string Escape(string? text, int limit = int.MaxValue)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "";
        }
        var source = text.Length > limit ? text[..Math.Max(0, limit - 1)] + "…" : text;
        var builder = new StringBuilder(source.Length + 16);
        for (var i = 0; i < source.Length; i++)
        {
            var c = source[i];
            if (c == ':' && i + 2 < source.Length && source[i + 1] == '/' && source[i + 2] == '/')
            {
                builder.Append(':').Append(WordJoiner);
                continue;
            }
            if ((c == 'w' || c == 'W') && i + 3 < source.Length && source.AsSpan(i, 4).Equals("www.", StringComparison.OrdinalIgnoreCase))
            {
                builder.Append(c).Append(WordJoiner);
                continue;
            }
            if (c == '@')
            {
                builder.Append('@').Append(WordJoiner);
                continue;
            }
            if (c == ':' && i >= 6 && source.AsSpan(i - 6, 6).Equals("mailto", StringComparison.OrdinalIgnoreCase))
            {
                builder.Append(WordJoiner).Append(':');
                continue;
            }
            if (c == '.' && i > 0 && char.IsLetterOrDigit(source[i - 1]) && i + 1 < source.Length && char.IsLetter(source[i + 1]))
            {
                // A bare domain (evil.example, an e-mail's domain) is linked by some clients without any scheme.
                builder.Append("\\.").Append(WordJoiner);
                continue;
            }
            if (Special.Contains(c, StringComparison.Ordinal))
            {
                builder.Append('\\');
            }
            builder.Append(c);
        }
        return builder.ToString();
    }
}
