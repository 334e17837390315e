using System.Globalization;
using System.Text;

namespace AgentSentinel.Core;

/// <summary>Characters that change how text is laid out or read rather than what it says: C0 controls (CR, LF, TAB,
/// ESC...), DEL, C1 controls, the Unicode line and paragraph separators, and the bidirectional formatting marks that
/// can make a line read backwards. Names and ids refuse them at intake; logs escape them wherever external text is
/// written, so no value can start a forged log line or hide what follows it.</summary>
public static class ControlCharacters
{
    public static bool IsControl(char c) =>
        c < 0x20 || c is >= '\u007f' and <= '\u009f'
        || c is '\u2028' or '\u2029' or '\u061c' or '\u200e' or '\u200f'
        || c is >= '\u202a' and <= '\u202e'
        || c is >= '\u2066' and <= '\u2069';

    /// <summary>The index of the first control character, or -1.</summary>
    public static int IndexOf(string? text)
    {
        if (text is null)
        {
            return -1;
        }
        for (var i = 0; i < text.Length; i++)
        {
            if (IsControl(text[i]))
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>Text for a log: each control character written as an escape (<c>\r</c>, <c>\n</c>, <c>\t</c>, or
    /// <c>\uXXXX</c>), and backslashes doubled so an escape in the text cannot pass for one made here.</summary>
    public static string? Escape(string? text)
    {
        if (text is null || (IndexOf(text) < 0 && !text.Contains('\\', StringComparison.Ordinal)))
        {
            return text;
        }
        var builder = new StringBuilder(text.Length + 8);
        foreach (var c in text)
        {
            switch (c)
            {
                case '\\':
                    builder.Append(@"\\");
                    break;
                case '\r':
                    builder.Append(@"\r");
                    break;
                case '\n':
                    builder.Append(@"\n");
                    break;
                case '\t':
                    builder.Append(@"\t");
                    break;
                default:
                    if (IsControl(c))
                    {
                        builder.Append(@"\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        builder.Append(c);
                    }
                    break;
            }
        }
        return builder.ToString();
    }
}
