using System.Net;
using System.Net.Sockets;

namespace AgentSentinel.Core.Callbacks;

/// <summary>
/// Which callback URLs the server may call, so that an agent can never make it reach an internal service:
/// the host must be on the allow list (checked at intake and again before each try), plain http is accepted only for
/// hosts listed exactly, and every address the host resolves to must be public (checked when connecting, on the very
/// addresses connected to) unless that exact IP address is listed. Cloud metadata addresses are never reached.
/// </summary>
public static class CallbackUrlPolicy
{
    /// <summary>Why a URL is refused, as a sentence for the agent; null when it is allowed. Shape errors are reported
    /// before the allow list, so an agent learns what is wrong with the URL itself first.</summary>
    public static string? Check(Uri url, CallbackOptions options)
    {
        if (!url.IsAbsoluteUri || url.Scheme is not ("http" or "https"))
        {
            return "'callback_url' must be an absolute https URL (http only for hosts this server lists exactly).";
        }
        if (url.UserInfo.Length > 0)
        {
            return "'callback_url' must not contain credentials.";
        }
        if (!options.Enabled)
        {
            return "Callbacks are not enabled on this server (no callback hosts are allowed): send the request without 'callback_url' and poll or wait for the decision instead.";
        }
        var host = NormalizeHost(url);
        if (!IsHostAllowed(host, options.AllowedHosts))
        {
            return $"'callback_url' names the host '{host}', which is not on this server's list of allowed callback hosts.";
        }
        if (url.Scheme == "http" && !IsListedExactly(host, options.AllowedHosts))
        {
            return $"'callback_url' must use https: plain http is accepted only for hosts listed exactly, and '{host}' is matched by a pattern.";
        }
        return null;
    }

    /// <summary>The host as matched against the list: lowercase, ASCII (punycode), no brackets, no trailing dot.</summary>
    public static string NormalizeHost(Uri url) => NormalizeHost(url.HostNameType == UriHostNameType.Dns ? url.IdnHost : url.Host);

    public static string NormalizeHost(string host) => host.Trim().TrimStart('[').TrimEnd(']').TrimEnd('.').ToLowerInvariant();

    /// <summary>True when an entry names the host exactly (a wildcard entry never does).</summary>
    public static bool IsListedExactly(string host, IReadOnlyCollection<string> allowedHosts)
    {
        var h = NormalizeHost(host);
        return allowedHosts.Any(e => !IsPattern(e) && SameHost(NormalizeHost(e), h));
    }

    public static bool IsHostAllowed(string host, IReadOnlyCollection<string> allowedHosts)
    {
        var h = NormalizeHost(host);
        if (h.Length == 0)
        {
            return false;
        }
        var isAddress = IPAddress.TryParse(h, out _);
        foreach (var entry in allowedHosts)
        {
            var e = NormalizeHost(entry);
            if (IsPattern(e))
            {
                // "*.example.com" matches a.example.com and a.b.example.com, never example.com or an IP address.
                if (!isAddress && h.Length > e.Length - 1 && h.EndsWith(e[1..], StringComparison.Ordinal))
                {
                    return true;
                }
            }
            else if (SameHost(e, h))
            {
                return true;
            }
        }
        return false;
    }

    private static bool IsPattern(string entry) => entry.TrimStart().StartsWith("*.", StringComparison.Ordinal);

    private static bool SameHost(string a, string b) =>
        IPAddress.TryParse(a, out var x) && IPAddress.TryParse(b, out var y) ? x.Equals(y) : string.Equals(a, b, StringComparison.Ordinal);

    /// <summary>Null when the entry is a valid allow-list entry; otherwise why not.</summary>
    public static string? ValidateEntry(string? entry)
    {
        if (string.IsNullOrWhiteSpace(entry))
        {
            return "must not be empty";
        }
        var e = NormalizeHost(entry);
        if (IPAddress.TryParse(e, out var ip))
        {
            return IsNeverAllowed(ip) ? $"'{entry}' is a cloud metadata or unspecified address, which is never a callback target" : null;
        }
        var name = IsPattern(e) ? e[2..] : e;
        if (name.Length is 0 or > 253 || name.Split('.').Any(label => label.Length is 0 or > 63
            || !label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') || label.StartsWith('-') || label.EndsWith('-')))
        {
            return $"'{entry}' is not a host name, an IP address or a '*.example.com' pattern (no scheme, port or path)";
        }
        if (IsPattern(e) && !name.Contains('.', StringComparison.Ordinal))
        {
            return $"'{entry}' is too broad: a pattern needs at least two labels after '*.' (like *.example.com)";
        }
        return null;
    }

    /// <summary>May the server connect to this address? Public addresses always; loopback, private, link-local and
    /// other special ranges only when that exact IP address is on the list (a listed host name is not enough);
    /// metadata and unspecified addresses never.</summary>
    public static bool MayConnect(IPAddress address, IReadOnlyCollection<string> allowedHosts) =>
        !IsNeverAllowed(address)
        && (IsPublic(address) || allowedHosts.Any(e => IPAddress.TryParse(NormalizeHost(e), out var listed) && listed.Equals(address)));

    /// <summary>Cloud instance metadata endpoints and the unspecified address: never a callback target.</summary>
    public static bool IsNeverAllowed(IPAddress address)
    {
        var a = Unwrap(address);
        if (a.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = a.GetAddressBytes();
            return b[0] == 0
                || (b[0] == 169 && b[1] == 254 && b[2] == 169 && b[3] == 254) // AWS, GCP, Azure, OpenStack metadata
                || (b[0] == 100 && b[1] == 100 && b[2] == 100 && b[3] == 200); // Alibaba Cloud metadata
        }
        return a.Equals(IPAddress.IPv6None) || a.Equals(IPAddress.Parse("fd00:ec2::254"));
    }

    /// <summary>True for globally routable unicast addresses; false for loopback, private (RFC 1918, ULA), shared
    /// (CGNAT 100.64/10), link-local, multicast, documentation, benchmark and reserved ranges.</summary>
    public static bool IsPublic(IPAddress address)
    {
        var a = Unwrap(address);
        if (a.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = a.GetAddressBytes();
            return !(b[0] == 0
                || b[0] == 10
                || (b[0] == 100 && (b[1] & 0xC0) == 64)
                || b[0] == 127
                || (b[0] == 169 && b[1] == 254)
                || (b[0] == 172 && (b[1] & 0xF0) == 16)
                || (b[0] == 192 && b[1] == 0 && b[2] == 0)
                || (b[0] == 192 && b[1] == 0 && b[2] == 2)
                || (b[0] == 192 && b[1] == 88 && b[2] == 99)
                || (b[0] == 192 && b[1] == 168)
                || (b[0] == 198 && (b[1] & 0xFE) == 18)
                || (b[0] == 198 && b[1] == 51 && b[2] == 100)
                || (b[0] == 203 && b[1] == 0 && b[2] == 113)
                || b[0] >= 224);
        }
        if (a.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return false;
        }
        var v6 = a.GetAddressBytes();
        if (a.IsIPv6LinkLocal || a.IsIPv6SiteLocal || a.IsIPv6Multicast || a.IsIPv6Teredo
            || a.Equals(IPAddress.IPv6Loopback) || a.Equals(IPAddress.IPv6None)
            || (v6[0] & 0xFE) == 0xFC // fc00::/7 unique local
            || (v6[0] == 0x20 && v6[1] == 0x01 && v6[2] == 0x0D && v6[3] == 0xB8) // 2001:db8::/32 documentation
            || (v6[0] == 0x01 && v6[1] == 0x00 && v6.Skip(2).Take(6).All(x => x == 0))) // 100::/64 discard
        {
            return false;
        }
        // 6to4 (2002::/16) and NAT64 (64:ff9b::/96) carry an IPv4 address: judge that one.
        if (v6[0] == 0x20 && v6[1] == 0x02)
        {
            return IsPublic(new IPAddress(v6.AsSpan(2, 4)));
        }
        if (v6[0] == 0x00 && v6[1] == 0x64 && v6[2] == 0xFF && v6[3] == 0x9B && v6.Skip(4).Take(8).All(x => x == 0))
        {
            return IsPublic(new IPAddress(v6.AsSpan(12, 4)));
        }
        // Only global unicast (2000::/3) is public.
        return (v6[0] & 0xE0) == 0x20;
    }

    private static IPAddress Unwrap(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
