using System.Text.Json;
using System.Text.Json.Serialization;

namespace AgentSentinel.Bot.Teams;

// Typed Adaptive Card 1.5 elements: only what the product uses, serialized without null fields.

public static class CardJson
{
    public const string ContentType = "application/vnd.microsoft.card.adaptive";

    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNameCaseInsensitive = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}

public sealed record AdaptiveCard
{
    [JsonPropertyName("$schema")]
    [JsonPropertyOrder(-3)]
    public string Schema => "http://adaptivecards.io/schemas/adaptive-card.json";

    [JsonPropertyOrder(-2)]
    public string Type => "AdaptiveCard";

    [JsonPropertyOrder(-1)]
    public string Version => "1.5";

    public required IReadOnlyList<CardElement> Body { get; init; }
    public IReadOnlyList<AdaptiveAction>? Actions { get; init; }
    public CardRefresh? Refresh { get; init; }
    public CardMsTeams? Msteams { get; init; }
}

public sealed record CardRefresh(CardAction Action, IReadOnlyList<string>? UserIds);

public sealed record CardMsTeams(string Width);

[JsonDerivedType(typeof(TextBlock))]
[JsonDerivedType(typeof(FactSet))]
[JsonDerivedType(typeof(InputText))]
[JsonDerivedType(typeof(Container))]
[JsonDerivedType(typeof(InputNumber))]
[JsonDerivedType(typeof(InputChoiceSet))]
public abstract record CardElement
{
    [JsonPropertyOrder(-2)]
    public abstract string Type { get; }

    [JsonPropertyOrder(-1)]
    public string? Id { get; init; }

    /// <summary><c>None</c>, <c>Small</c>, <c>Default</c>, <c>Medium</c>, <c>Large</c>...; null for the default.</summary>
    public string? Spacing { get; init; }
}

public sealed record TextBlock(string Text) : CardElement
{
    public override string Type => "TextBlock";
    public bool? Wrap { get; init; }
    public string? Size { get; init; }
    public string? Weight { get; init; }
    public string? Color { get; init; }
    public bool? IsSubtle { get; init; }
    public int? MaxLines { get; init; }
    public string? FontType { get; init; }
}

public sealed record Fact(string Title, string Value);

public sealed record FactSet(IReadOnlyList<Fact> Facts) : CardElement
{
    public override string Type => "FactSet";
}

public sealed record InputText : CardElement
{
    public override string Type => "Input.Text";
    public string? Label { get; init; }
    public string? Placeholder { get; init; }
    public bool? IsMultiline { get; init; }
    public int? MaxLength { get; init; }
}

public sealed record InputNumber : CardElement
{
    public override string Type => "Input.Number";
    public string? Label { get; init; }
    public string? Placeholder { get; init; }
    public decimal? Min { get; init; }
    public decimal? Max { get; init; }
}

public sealed record Choice(string Title, string Value);

public sealed record InputChoiceSet(IReadOnlyList<Choice> Choices) : CardElement
{
    public override string Type => "Input.ChoiceSet";
    public string? Label { get; init; }
    /// <summary><c>compact</c> (a drop-down) or <c>expanded</c> (radio buttons).</summary>
    public string? Style { get; init; }
    public string? Value { get; init; }
    public string? Placeholder { get; init; }
}

public sealed record Container(IReadOnlyList<CardElement> Items) : CardElement
{
    public override string Type => "Container";
    public string? Style { get; init; }
    public bool? Bleed { get; init; }
}

/// <summary>An action of a card: <see cref="CardAction"/> (sent to the bot) or <see cref="ShowCardAction"/> (opens a
/// card inside the card, whose own actions are sent).</summary>
[JsonDerivedType(typeof(CardAction))]
[JsonDerivedType(typeof(ShowCardAction))]
public abstract record AdaptiveAction(string Title)
{
    [JsonPropertyOrder(-2)]
    public abstract string Type { get; }
}

/// <summary>An <c>Action.ShowCard</c>: shows <see cref="Card"/> (inputs and its own actions) under the card.</summary>
public sealed record ShowCardAction(string Title, AdaptiveCard Card) : AdaptiveAction(Title)
{
    public override string Type => "Action.ShowCard";
}

public sealed record CardAction(string Title, string Verb) : AdaptiveAction(Title)
{
    public override string Type => "Action.Execute";
    public IReadOnlyDictionary<string, string>? Data { get; init; }
    public string? Style { get; init; }
    public string? AssociatedInputs { get; init; }
}
