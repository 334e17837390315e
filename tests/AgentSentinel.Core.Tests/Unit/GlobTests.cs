namespace AgentSentinel.Core.Tests.Unit;

public sealed class GlobTests
{
    [Theory]
    [InlineData("transfer_funds", "transfer_funds")]
    [InlineData("transfer_funds", "TRANSFER_FUNDS")]
    [InlineData("Transfer_Funds", "transfer_funds")]
    public void A_pattern_without_wildcards_matches_the_same_name_ignoring_case(string pattern, string value)
    {
        Assert.True(Glob.IsMatch(pattern, value));
    }

    [Theory]
    [InlineData("transfer_funds", "transfer_fund")]
    [InlineData("transfer_funds", "transfer_funds_now")]
    [InlineData("transfer_funds", "")]
    public void A_pattern_without_wildcards_does_not_match_a_different_name(string pattern, string value)
    {
        Assert.False(Glob.IsMatch(pattern, value));
    }

    [Theory]
    [InlineData("transfer_*", "transfer_funds", true)]
    [InlineData("transfer_*", "transfer_", true)]
    [InlineData("transfer_*", "TRANSFER_X", true)]
    [InlineData("transfer_*", "refund_transfer_x", false)]
    [InlineData("transfer_*", "transfer", false)]
    [InlineData("*_user", "delete_user", true)]
    [InlineData("*_user", "delete_users", false)]
    [InlineData("*", "", true)]
    [InlineData("*", "anything at all", true)]
    [InlineData("a*b*c", "abc", true)]
    [InlineData("a*b*c", "a-x-b-y-c", true)]
    [InlineData("a*b*c", "a-x-c-y-b", false)]
    public void A_star_matches_any_run_of_characters_including_none(string pattern, string value, bool expected)
    {
        Assert.Equal(expected, Glob.IsMatch(pattern, value));
    }

    [Theory]
    [InlineData("agent-?", "agent-1", true)]
    [InlineData("agent-?", "agent-", false)]
    [InlineData("agent-?", "agent-12", false)]
    [InlineData("agent-??", "agent-12", true)]
    public void A_question_mark_matches_exactly_one_character(string pattern, string value, bool expected)
    {
        Assert.Equal(expected, Glob.IsMatch(pattern, value));
    }

    [Theory]
    [InlineData("price.update*", "price.update_eu", true)]
    [InlineData("price.update*", "priceXupdate_eu", false)]
    [InlineData("a+b*", "a+b1", true)]
    [InlineData("a+b*", "aab1", false)]
    [InlineData("[x]*", "[x]1", true)]
    [InlineData("[x]*", "x1", false)]
    [InlineData("^cost$*", "^cost$1", true)]
    [InlineData("(a|b)?", "(a|b)1", true)]
    [InlineData("(a|b)?", "a", false)]
    public void Regex_characters_in_a_pattern_are_taken_literally(string pattern, string value, bool expected)
    {
        Assert.Equal(expected, Glob.IsMatch(pattern, value));
    }

    [Theory]
    [InlineData("*")]
    [InlineData("agent")]
    [InlineData("?")]
    public void A_missing_value_matches_nothing(string pattern)
    {
        Assert.False(Glob.IsMatch(pattern, null));
    }

    [Fact]
    public void A_star_also_spans_line_breaks()
    {
        Assert.True(Glob.IsMatch("a*z", "a\nz"));
    }

    [Theory]
    [InlineData("transfer_?", "transfer_a\n")]
    [InlineData("*_funds", "transfer_funds\n")]
    [InlineData("transfer_*s", "transfer_funds\n")]
    public void A_trailing_line_break_is_not_ignored_by_a_wildcard_pattern(string pattern, string value)
    {
        // A literal pattern compares the whole string ("transfer_a" does not equal "transfer_a\n"); a wildcard
        // pattern must anchor at the very end of the value just the same.
        Assert.False(Glob.IsMatch("transfer_a", "transfer_a\n"));
        Assert.False(Glob.IsMatch(pattern, value));
    }

    [Theory]
    [InlineData("*a*a*a*b")]
    [InlineData("*a*a*a*a*a*a*b")]
    public void A_pattern_with_several_stars_answers_on_a_long_value_instead_of_throwing(string pattern)
    {
        // Action names and agent ids come from agents (up to 200 characters); patterns come from admins (up to 200).
        // Whatever the two are, matching must answer: a timeout exception here turns an agent's request into a 500.
        var value = new string('a', 200);

        var ex = Record.Exception(() => Glob.IsMatch(pattern, value));

        Assert.Null(ex);
        Assert.False(Glob.IsMatch(pattern, value));
    }

    [Fact]
    public void Any_match_is_true_when_one_of_the_patterns_matches()
    {
        Assert.True(Glob.AnyMatch(["delete_*", "transfer_*"], "transfer_funds"));
        Assert.False(Glob.AnyMatch(["delete_*", "transfer_*"], "update_price"));
    }

    [Fact]
    public void Any_match_of_no_patterns_is_false()
    {
        Assert.False(Glob.AnyMatch([], "transfer_funds"));
    }

    [Fact]
    public void Any_match_of_a_missing_value_is_false()
    {
        Assert.False(Glob.AnyMatch(["*"], null));
    }
}
