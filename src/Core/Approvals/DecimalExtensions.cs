namespace AgentSentinel.Core.Approvals;

public static class DecimalExtensions
{
    /// <summary>The same value without trailing zeros (<c>2500.000000</c> becomes <c>2500</c>), so an amount reads the
    /// same whichever database stored it.</summary>
    public static decimal Normalize(this decimal value) => value / 1.000000000000000000000000000000000m;
}
