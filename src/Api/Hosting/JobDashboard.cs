using AgentSentinel.Api.WebConsole;
using AgentSentinel.Core.Auth;
using Hangfire;
using Hangfire.Dashboard;

namespace AgentSentinel.Api.Hosting;

/// <summary>Hangfire's dashboard at <c>/hangfire</c>, for admin console sessions only, and read-only: its buttons
/// (requeue, delete, trigger) would act on jobs whose state the product owns in its own tables (deliveries,
/// callbacks, expiry), so they are hidden and refused; the product's own actions (retry a failed delivery) live in
/// Administration.</summary>
public static class JobDashboard
{
    public const string Path = "/hangfire";

    public static IEndpointRouteBuilder MapJobDashboard(this IEndpointRouteBuilder app)
    {
        var options = new DashboardOptions
        {
            Authorization = [],
            AsyncAuthorization = [new AdminSessionFilter()],
            IsReadOnlyFunc = _ => true,
            AppPath = "/admin",
            DashboardTitle = "Agent Sentinel jobs",
            DisplayStorageConnectionString = false,
        };
        // Built at the first request, not at start-up: the job storage is made from the validated options, and a
        // wrong setting must stop the host with the validator's sentence, not fail while the routes are mapped.
        var dashboard = new Lazy<RequestDelegate>(() => app.CreateApplicationBuilder()
            .UseHangfireDashboard(Path, options, app.ServiceProvider.GetRequiredService<JobStorage>())
            .Build());
        app.Map(Path + "/{**path}", context => dashboard.Value(context)).WithName("JobDashboard").ExcludeFromDescription();
        return app;
    }

    /// <summary>Admits a request whose console session cookie names an open session of an admin. API keys are refused:
    /// the dashboard is a page for people, and a key in a browser is not a session. The check reads the cookie itself
    /// rather than the request's principal because the dashboard's own polling uses POST, which the console scheme
    /// authenticates only with the anti-forgery header the dashboard does not send; since the dashboard is read-only,
    /// those POSTs change nothing.</summary>
    private sealed class AdminSessionFilter : IDashboardAsyncAuthorizationFilter
    {
        public async Task<bool> AuthorizeAsync(DashboardContext context)
        {
            var http = context.GetHttpContext();
            if (http.Request.Headers.Authorization.Count > 0)
            {
                return false;
            }
            var sessions = http.RequestServices.GetRequiredService<ConsoleSessions>();
            var session = await sessions.ValidateAsync(ConsoleSessions.SessionIdOf(http.Request), touch: HttpMethods.IsGet(http.Request.Method), http.RequestAborted);
            return session is not null && session.Scopes.Contains(Scopes.Admin, StringComparer.Ordinal);
        }
    }
}
