using Microsoft.Extensions.Configuration.Json;

namespace AgentSentinel.Api.Hosting;

public static class RepositoryConfiguration
{
    /// <summary>
    /// The product has one configuration file, <c>appsettings.json</c> at the repository root. Run from the root,
    /// it is the content root's file; run from anywhere else, the copy next to the binary is used. It is inserted
    /// first so environment variables and the command line still override it.
    /// </summary>
    public static WebApplicationBuilder UseRepositoryConfiguration(this WebApplicationBuilder builder)
    {
        var contentRootFile = Path.Combine(builder.Environment.ContentRootPath, "appsettings.json");
        var besideBinary = Path.Combine(AppContext.BaseDirectory, "appsettings.json");
        if (!File.Exists(contentRootFile) && File.Exists(besideBinary))
        {
            var source = new JsonConfigurationSource { Path = besideBinary, Optional = true, ReloadOnChange = false };
            source.ResolveFileProvider();
            builder.Configuration.Sources.Insert(0, source);
        }
        return builder;
    }
}
