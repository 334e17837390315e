namespace AgentSentinel;

/// <summary>Name patterns with <c>*</c> (any run) and <c>?</c> (one character), case-insensitive. Matched without
/// regular expressions, in time linear in practice and never worse than pattern length times value length, so an
/// agent-supplied name can never make matching slow or throw. Compiled into the server and into the client library
/// (which must not reference the server), so both match names exactly alike.</summary>
internal static class Glob
{
    public static bool IsMatch(string pattern, string? value)
    {
        if (value is null)
        {
            return false;
        }
        int p = 0, v = 0, star = -1, resume = 0;
        while (v < value.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || Same(pattern[p], value[v])))
            {
                p++;
                v++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                resume = v;
            }
            else if (star >= 0)
            {
                // Let the last star swallow one more character and try again from there.
                p = star + 1;
                v = ++resume;
            }
            else
            {
                return false;
            }
        }
        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }
        return p == pattern.Length;
    }

    public static bool AnyMatch(IEnumerable<string> patterns, string? value) => patterns.Any(p => IsMatch(p, value));

    private static bool Same(char a, char b) => a == b || char.ToUpperInvariant(a) == char.ToUpperInvariant(b);
}
