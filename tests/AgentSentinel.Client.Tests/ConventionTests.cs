using System.Reflection;

namespace AgentSentinel.Client.Tests;

/// <summary>Guards the library's public surface.</summary>
public sealed class ConventionTests
{
    private static readonly Assembly Library = typeof(ApprovalClient).Assembly;

    [Fact]
    public void Every_public_async_method_takes_a_cancellation_token()
    {
        var offenders = Library.GetExportedTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(m => typeof(Task).IsAssignableFrom(m.ReturnType))
            .Where(m => !m.GetParameters().Any(p => p.ParameterType == typeof(CancellationToken)))
            .Select(m => $"{m.DeclaringType!.Name}.{m.Name}")
            .ToList();
        Assert.Empty(offenders);
    }

    [Fact]
    public void The_library_does_not_depend_on_the_server()
    {
        var references = Library.GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.DoesNotContain(references, n => n is "AgentSentinel.Core" or "AgentSentinel.Api" or "AgentSentinel.Bot");
        Assert.Contains("Microsoft.Extensions.Http", references);
    }
}
