namespace AgentSentinel.Core.Tests.Unit;

public sealed class ControlCharactersTests
{
    [Theory]
    [InlineData("approved\r\n2026-01-01 INFO forged", @"approved\r\n2026-01-01 INFO forged")]
    [InlineData("tab\there", @"tab\there")]
    [InlineData("esc\u001b[31mred", @"esc\u001b[31mred")]
    [InlineData("c1\u0085next", @"c1\u0085next")]
    [InlineData("line\u2028para\u2029", @"line\u2028para\u2029")]
    [InlineData("bidi\u202eesrever\u2066", @"bidi\u202eesrever\u2066")]
    [InlineData("del\u007f", @"del\u007f")]
    [InlineData(@"already\nescaped", @"already\\nescaped")]
    public void Log_text_has_every_control_character_escaped_and_cannot_fake_an_escape(string text, string logged)
    {
        var escaped = ControlCharacters.Escape(text);
        Assert.Equal(logged, escaped);
        Assert.Equal(-1, ControlCharacters.IndexOf(escaped));
    }

    [Theory]
    [InlineData("transfer_funds")]
    [InlineData("Überweisung · 10 €")]
    [InlineData("emoji 🚀 and \u200d joiners")]
    public void Ordinary_text_is_logged_as_it_is(string text)
    {
        Assert.Same(text, ControlCharacters.Escape(text));
        Assert.Equal(-1, ControlCharacters.IndexOf(text));
    }

    [Fact]
    public void The_first_control_character_is_found()
    {
        Assert.Equal(4, ControlCharacters.IndexOf("wire\nx"));
        Assert.Equal(-1, ControlCharacters.IndexOf(null));
        Assert.Null(ControlCharacters.Escape(null));
    }
}
