using System.Text.Json;
using System.Text.Json.Serialization;

namespace AgentSentinel.Bot.Slack;

// Typed Block Kit: only the parts this product uses, serialized without null fields (Slack rejects "block_id": null).

public static class SlackJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNameCaseInsensitive = true,
        // Agent text is already escaped for Slack; keep the JSON itself compact and readable.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}

public sealed record TextObject([property: JsonPropertyOrder(-1)] string Type, string Text)
{
    public bool? Emoji { get; init; }

    /// <summary>mrkdwn only: when true Slack links no URL or channel name by itself; only the explicit
    /// <c>&lt;url|label&gt;</c>, <c>&lt;@user&gt;</c>, <c>&lt;!here&gt;</c> and <c>&lt;!date&gt;</c> the product writes.</summary>
    public bool? Verbatim { get; init; }

    /// <summary>The product's own plain text (emoji codes shown as emoji).</summary>
    public static TextObject Plain(string text) => new("plain_text", text) { Emoji = true };

    /// <summary>Plain text that came from an agent (made safe by <see cref="SlackText.Plain"/>): nothing formatted, no
    /// emoji codes turned into pictures.</summary>
    public static TextObject Literal(string text) => new("plain_text", text) { Emoji = false };

    /// <summary>mrkdwn, always verbatim: every link and mention in a message is one the product wrote explicitly.</summary>
    public static TextObject Markdown(string text) => new("mrkdwn", text) { Verbatim = true };
}

[JsonDerivedType(typeof(HeaderBlock))]
[JsonDerivedType(typeof(SectionBlock))]
[JsonDerivedType(typeof(ContextBlock))]
[JsonDerivedType(typeof(ActionsBlock))]
[JsonDerivedType(typeof(DividerBlock))]
[JsonDerivedType(typeof(InputBlock))]
public abstract record Block
{
    [JsonPropertyOrder(-2)]
    public abstract string Type { get; }

    [JsonPropertyOrder(-1)]
    public string? BlockId { get; init; }
}

public sealed record HeaderBlock(TextObject Text) : Block
{
    public override string Type => "header";
}

public sealed record SectionBlock : Block
{
    public override string Type => "section";
    public TextObject? Text { get; init; }
    public IReadOnlyList<TextObject>? Fields { get; init; }
}

public sealed record ContextBlock(IReadOnlyList<TextObject> Elements) : Block
{
    public override string Type => "context";
}

public sealed record DividerBlock : Block
{
    public override string Type => "divider";
}

public sealed record ActionsBlock(IReadOnlyList<ActionElement> Elements) : Block
{
    public override string Type => "actions";
}

/// <summary>An interactive element of an actions block: a button or an overflow menu.</summary>
[JsonDerivedType(typeof(ButtonElement))]
[JsonDerivedType(typeof(OverflowElement))]
public abstract record ActionElement(string ActionId)
{
    [JsonPropertyOrder(-2)]
    public abstract string Type { get; }
}

public sealed record ButtonElement(TextObject Text, string ActionId) : ActionElement(ActionId)
{
    public override string Type => "button";
    public string? Value { get; init; }
    /// <summary><c>primary</c> or <c>danger</c>; null for the default style.</summary>
    public string? Style { get; init; }
    public string? Url { get; init; }
    /// <summary>A dialog Slack shows before the click is sent.</summary>
    public ConfirmDialog? Confirm { get; init; }
}

/// <summary>An overflow menu ("…"): two to five options, each sent back as <c>selected_option</c> when chosen.</summary>
public sealed record OverflowElement(string ActionId, IReadOnlyList<OptionObject> Options) : ActionElement(ActionId)
{
    public override string Type => "overflow";
}

/// <summary>A confirmation dialog on a button (plain text only).</summary>
public sealed record ConfirmDialog(TextObject Title, TextObject Text, TextObject Confirm, TextObject Deny)
{
    /// <summary><c>danger</c> for a red confirm button.</summary>
    public string? Style { get; init; }
}

public sealed record InputBlock(TextObject Label, InputElement Element) : Block
{
    public override string Type => "input";
    public bool? Optional { get; init; }
    public TextObject? Hint { get; init; }
}

/// <summary>An element of an input block in a modal.</summary>
[JsonDerivedType(typeof(PlainTextInput))]
[JsonDerivedType(typeof(NumberInput))]
[JsonDerivedType(typeof(RadioButtonsElement))]
[JsonDerivedType(typeof(UsersSelectElement))]
[JsonDerivedType(typeof(ConversationsSelectElement))]
public abstract record InputElement(string ActionId)
{
    [JsonPropertyOrder(-2)]
    public abstract string Type { get; }
}

public sealed record PlainTextInput(string ActionId) : InputElement(ActionId)
{
    public override string Type => "plain_text_input";
    public bool? Multiline { get; init; }
    public int? MaxLength { get; init; }
    public TextObject? Placeholder { get; init; }
}

/// <summary>A number field; Slack sends its value as a string. Limits are strings too, as Block Kit defines them.</summary>
public sealed record NumberInput(string ActionId, bool IsDecimalAllowed) : InputElement(ActionId)
{
    public override string Type => "number_input";
    public string? MinValue { get; init; }
    public string? MaxValue { get; init; }
    public string? InitialValue { get; init; }
    public TextObject? Placeholder { get; init; }
}

public sealed record OptionObject(TextObject Text, string Value);

public sealed record RadioButtonsElement(string ActionId, IReadOnlyList<OptionObject> Options) : InputElement(ActionId)
{
    public override string Type => "radio_buttons";
    public OptionObject? InitialOption { get; init; }
}

/// <summary>A picker of one workspace member; the submission carries <c>selected_user</c>.</summary>
public sealed record UsersSelectElement(string ActionId) : InputElement(ActionId)
{
    public override string Type => "users_select";
    public TextObject? Placeholder { get; init; }
}

/// <summary>A picker of one conversation; the submission carries <c>selected_conversation</c>.</summary>
public sealed record ConversationsSelectElement(string ActionId) : InputElement(ActionId)
{
    public override string Type => "conversations_select";
    public TextObject? Placeholder { get; init; }
    public ConversationFilter? Filter { get; init; }
}

/// <summary>Which conversations a picker lists: <c>include</c> any of <c>public</c>, <c>private</c>, <c>im</c>, <c>mpim</c>.</summary>
public sealed record ConversationFilter(IReadOnlyList<string> Include)
{
    public bool? ExcludeBotUsers { get; init; }
    public bool? ExcludeExternalSharedChannels { get; init; }
}

public sealed record ModalView(string CallbackId, TextObject Title, IReadOnlyList<Block> Blocks)
{
    [JsonPropertyOrder(-1)]
    public string Type => "modal";
    public TextObject? Submit { get; init; }
    public TextObject? Close { get; init; }
    public string? PrivateMetadata { get; init; }
}

/// <summary>Message metadata: lets the server find a message it posted when it cannot tell whether a post went through.</summary>
public sealed record MessageMetadata(string EventType, IReadOnlyDictionary<string, string> EventPayload);

/// <summary>The body of <c>chat.postMessage</c> and <c>chat.update</c>.</summary>
public sealed record SlackMessage
{
    public required string Channel { get; init; }
    /// <summary>Notification and fallback text.</summary>
    public required string Text { get; init; }
    public IReadOnlyList<Block>? Blocks { get; init; }
    public string? Ts { get; init; }
    public string? ThreadTs { get; init; }
    public MessageMetadata? Metadata { get; init; }
    public bool? UnfurlLinks { get; init; }
    public bool? UnfurlMedia { get; init; }
}

/// <summary>The published Block Kit limits this product keeps to.</summary>
public static class BlockKitLimits
{
    public const int MessageBlocks = 50;
    public const int ModalBlocks = 100;
    public const int SectionText = 3000;
    public const int FieldText = 2000;
    public const int SectionFields = 10;
    public const int HeaderText = 150;
    public const int ButtonText = 75;
    public const int ButtonValue = 2000;
    public const int Id = 255;
    public const int ContextElements = 10;
    public const int ModalTitle = 24;
    public const int PrivateMetadata = 3000;
    /// <summary>Slack truncates or refuses messages much above this many characters of JSON.</summary>
    public const int MessageJson = 13_000;
}
