using System.Text.RegularExpressions;

namespace AgentSentinel.Core.Routing;

/// <summary>Name patterns with <c>*</c> (any run) and <c>?</c> (one character), case-insensitive.</summary>
public static class Glob
{
    public static bool IsMatch(string pattern, string? value)
    {
        if (value is null)
        {
            return false;
        }
        if (!pattern.Contains('*', StringComparison.Ordinal) && !pattern.Contains('?', StringComparison.Ordinal))
        {
            return string.Equals(pattern, value, StringComparison.OrdinalIgnoreCase);
        }
        var regex = "^" + Regex.Escape(pattern).Replace("\\*", ".*", StringComparison.Ordinal).Replace("\\?", ".", StringComparison.Ordinal) + "$";
        return Regex.IsMatch(value, regex, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.Singleline, TimeSpan.FromMilliseconds(100));
    }

    public static bool AnyMatch(IEnumerable<string> patterns, string? value) => patterns.Any(p => IsMatch(p, value));
}
