using AgentSentinel.Api.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.UseRepositoryConfiguration();
builder.AddAgentSentinel();

var app = builder.Build();
app.MapAgentSentinel();
app.Run();

/// <summary>The entry point, visible to integration tests.</summary>
public partial class Program;
