//! The command line as clap sees it: every command, flag and help text.
//!
//! Values stay strings here; the binary's `input` module parses them into the
//! library's types, so a bad value is reported as one line naming the
//! option and the value, before anything is opened.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::template::Template;

/// Docker's bridge networks without Docker: `brnet network ...` mirrors
/// `docker network ...` on Linux bridges, veth pairs and nftables.
#[derive(Debug, Parser)]
#[command(name = "brnet", version, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 ok, 1 operation failed, 2 bad input or usage, \
                        3 not found, 4 conflict (exists, overlaps, in use).\n\
                  Logs: -v, or RUST_LOG=debug, on stderr; BRNET_LOG_FILE=PATH to a file."
)]
pub struct Cli {
    /// State directory, shared by every brnet process and library user.
    #[arg(
        long,
        global = true,
        env = "BRNET_STATE_DIR",
        default_value = bridge_net::DEFAULT_STATE_DIR,
        value_name = "DIR"
    )]
    pub state_dir: PathBuf,
    /// Firewall backend.
    #[arg(long, global = true, value_enum, default_value_t = Firewall::Nftables)]
    pub firewall: Firewall,
    /// Show what happens on stderr: -v each operation, -vv also every
    /// kernel request, -vvv everything (as RUST_LOG=info|debug|trace;
    /// RUST_LOG alone works too; BRNET_LOG_FILE=PATH logs to a file).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The firewall backends, by their command-line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Firewall {
    /// nf_tables over netlink, no external binary (the default).
    Nftables,
    /// The same ruleset written by `nft -f -`.
    #[value(name = "nft-cmd")]
    NftCmd,
    /// Docker's iptables layout via `iptables-restore`.
    Iptables,
    /// No firewall rules at all.
    None,
}

impl From<Firewall> for bridge_net::FirewallBackend {
    fn from(f: Firewall) -> Self {
        match f {
            Firewall::Nftables => bridge_net::FirewallBackend::Native,
            Firewall::NftCmd => bridge_net::FirewallBackend::NftCommand,
            Firewall::Iptables => bridge_net::FirewallBackend::IptablesRestore,
            Firewall::None => bridge_net::FirewallBackend::None,
        }
    }
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage networks (like `docker network`).
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage named network namespaces under /run/netns (like `ip netns`).
    #[command(subcommand)]
    Netns(NetnsCommand),
    /// Overlay networks across hosts (`network create -d overlay`).
    #[command(subcommand)]
    Overlay(OverlayCommand),
    /// The name resolver of DNS-enabled networks.
    #[command(subcommand)]
    Dns(DnsCommand),
    /// Print a shell completion script: `brnet completions bash >
    /// /usr/share/bash-completion/completions/brnet`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// List every endpoint: namespace, container, network, interface,
    /// addresses, MAC, published ports (the container-side view, like
    /// `docker ps`' PORTS column).
    Ps(PsArgs),
    /// List a namespace's published ports, or the host addresses of one
    /// of its ports (like `docker port`).
    Port(PortArgs),
}

/// `brnet ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Output format: table, json (one object per line: ContainerID,
    /// Name, Netns, Network, Interface, IPv4, IPv6, MAC, Gateway, Ports,
    /// EndpointID), a Go template ('{{.Name}} {{.IPv4}}') or 'table
    /// TEMPLATE'.
    #[arg(long, default_value = "table", value_parser = list_format, value_name = "FORMAT")]
    pub format: ListFormat,
    /// Only the endpoints of this network.
    #[arg(long, value_name = "NETWORK")]
    pub network: Option<String>,
    /// Full 64-digit ids.
    #[arg(long)]
    pub no_trunc: bool,
}

/// `brnet port`.
#[derive(Debug, Args)]
pub struct PortArgs {
    /// The namespace: a name under /run/netns, or a path.
    pub netns: String,
    /// Only this container port: `PORT[/PROTO]` (tcp when not given).
    #[arg(value_name = "PORT[/PROTO]")]
    pub port: Option<String>,
}

/// `brnet overlay ...`.
#[derive(Debug, Subcommand)]
pub enum OverlayCommand {
    /// The per-host agent (one per host, like flanneld): keeps this host's
    /// lease in the cluster store alive and turns the store's changes into
    /// this host's VXLAN FDB and neighbour entries. Runs until killed.
    Agent(OverlayAgentArgs),
}

/// `brnet overlay agent`.
#[derive(Debug, Args)]
pub struct OverlayAgentArgs {
    /// The cluster store (etcd://HOST:PORT or dir:///PATH); default: the
    /// one of this state directory's overlay networks.
    #[arg(long, value_name = "ADDR")]
    pub cluster: Option<String>,
    /// This host's VTEP address; default: the one of this state
    /// directory's overlay networks.
    #[arg(long, value_name = "ADDR")]
    pub vtep: Option<std::net::IpAddr>,
    /// The lease's TTL in seconds: how long this host's endpoints outlive
    /// it on the other hosts.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub ttl: u64,
}

/// `brnet dns ...`.
#[derive(Debug, Subcommand)]
pub enum DnsCommand {
    /// Serve names for every DNS-enabled network of the state directory,
    /// on port 53 of each network's gateway. bridge-net starts this itself
    /// when a DNS-enabled network gets its first endpoint; it exits when
    /// none has endpoints left.
    Serve(DnsServeArgs),
}

/// `brnet dns serve`.
#[derive(Debug, Args)]
pub struct DnsServeArgs {
    /// The port to answer on (53 unless testing).
    #[arg(long, default_value_t = 53)]
    pub port: u16,
    /// An upstream nameserver for names that are not ours (`IP` or
    /// `IP:PORT`; repeatable, asked in order). Without it: the
    /// `nameserver` lines of `--resolv-conf`, else of `resolv.conf` in the
    /// state directory when there is one, else of `/etc/resolv.conf`.
    #[arg(long = "upstream", value_name = "ADDR", value_parser = brnet_dns::serve::parse_upstream)]
    pub upstreams: Vec<std::net::SocketAddr>,
    /// A resolv.conf file to take the upstream nameservers from.
    #[arg(long, value_name = "PATH")]
    pub resolv_conf: Option<PathBuf>,
}

/// `brnet network ...`.
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network; prints its id.
    Create(CreateArgs),
    /// Exit 0 if a network exists, 1 if not (prints nothing).
    Exists(ExistsArgs),
    /// List networks.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Show networks in detail (a JSON array, as `docker network inspect`).
    Inspect(InspectArgs),
    /// Remove networks; prints each name removed.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove every network without endpoints; prints the names removed.
    Prune(PruneArgs),
    /// Connect a network namespace to a network; prints its interface.
    Connect(ConnectArgs),
    /// Disconnect a network namespace from a network (nothing to do is not
    /// an error).
    Disconnect(DisconnectArgs),
}

/// `brnet network create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Subnet in CIDR form; an IPv6 one as well: dual-stack; an IPv6 one
    /// alone: IPv6-only.
    #[arg(long, value_name = "CIDR")]
    pub subnet: Vec<String>,
    /// Gateway of the subnet of the same family (default: its first
    /// address).
    #[arg(long, value_name = "IP")]
    pub gateway: Vec<String>,
    /// Hand out dynamic addresses only from this part of the subnet of the
    /// same family.
    #[arg(long, value_name = "CIDR")]
    pub ip_range: Vec<String>,
    /// An address never handed out.
    #[arg(long, value_name = "NAME=IP")]
    pub aux_address: Vec<String>,
    /// No outbound traffic, no published ports.
    #[arg(long)]
    pub internal: bool,
    /// IPv6: needs an IPv6 --subnet. With an IPv4 --subnet too (or
    /// --ipv4=true), dual-stack; without, IPv6-only.
    #[arg(long)]
    pub ipv6: bool,
    /// IPv4 (default: unless only IPv6 subnets are given). --ipv4=false
    /// with no IPv6 either: a network that gives no addresses.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub ipv4: Option<bool>,
    /// Driver option, e.g. com.docker.network.bridge.name=br0,
    /// com.docker.network.bridge.enable_icc=false,
    /// com.docker.network.bridge.enable_ip_masquerade=false,
    /// com.docker.network.driver.mtu=1400, brnet.metric=200; for -d
    /// macvlan: parent=eth0, macvlan_mode=bridge|private|vepa|passthru|source;
    /// for -d overlay: vni=4096, vtep=ADDR, cluster=ADDR.
    #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE")]
    pub opt: Vec<String>,
    /// A label, kept for inspect.
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// The cluster store of an overlay network (-d overlay):
    /// etcd://HOST:PORT[,HOST:PORT...] or dir:///PATH (default: a
    /// directory every host of this machine shares).
    #[arg(long, value_name = "ADDR")]
    pub cluster: Option<String>,
    /// Network driver: `bridge`, `macvlan` (containers on the LAN of
    /// `-o parent=IF`, the host's default route's link when not given), or
    /// `overlay` (across hosts: needs --subnet; -o vni=N, -o vtep=ADDR).
    #[arg(short = 'd', long, default_value = "bridge", value_name = "DRIVER")]
    pub driver: String,
    /// No error when a network of that name exists: print its id.
    #[arg(long)]
    pub ignore: bool,
    /// The network's name.
    pub name: String,
}

/// Output format of `network ls` and `brnet ps`: `table` (the
/// default), `json` (one JSON object per line, Docker's keys), `table
/// TEMPLATE` or a Go template (`{{.Name}}`).
#[derive(Debug, Clone, PartialEq)]
pub enum ListFormat {
    /// The default table.
    Table,
    /// One JSON object per line.
    Json,
    /// A Go template per line; `table TEMPLATE` adds a header line and
    /// aligns the columns its tabs separate.
    Template {
        /// With a header, aligned.
        table: bool,
        /// The template.
        template: Template,
    },
}

/// Parse `--format` of a list.
pub fn list_format(s: &str) -> Result<ListFormat, String> {
    match s {
        "" | "table" => Ok(ListFormat::Table),
        "json" => Ok(ListFormat::Json),
        _ => {
            let (table, src) = match s.strip_prefix("table ") {
                Some(rest) => (true, rest),
                None => (false, s),
            };
            if !src.contains("{{") {
                return Err(
                    "not table, json, or a Go template ('{{.Name}}', 'table {{.ID}}\\t{{.Name}}')"
                        .into(),
                );
            }
            let template = Template::parse(&src.replace("\\t", "\t")).map_err(|e| e.to_string())?;
            Ok(ListFormat::Template { table, template })
        }
    }
}

/// A `--filter KEY=VALUE` of `keys`.
fn filter(s: &str, keys: &[&str]) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, KEY one of {}", keys.join(", ")))?;
    // `label!=KEY[=VALUE]`: the key with its `!`.
    if !keys.contains(&k) {
        return Err(format!("no filter {k:?}: one of {}", keys.join(", ")));
    }
    Ok((k.to_owned(), v.to_owned()))
}

/// The filters of `network ls`.
pub const LS_FILTERS: &[&str] = &["name", "id", "driver", "label", "type", "dangling"];

/// The filters of `network prune`.
pub const PRUNE_FILTERS: &[&str] = &["until", "label", "label!"];

/// `brnet network ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Output format: table, json (one object per line, Docker's keys:
    /// ID, Name, Driver, Scope, IPv4, IPv6, Internal, Labels, CreatedAt),
    /// a Go template ('{{.Name}}', '{{json .}}'), or 'table TEMPLATE'.
    #[arg(long, default_value = "table", value_parser = list_format, value_name = "FORMAT")]
    pub format: ListFormat,
    /// Only the ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Full 64-digit ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// Only networks that match (repeatable; the same key: any of its
    /// values, different keys: all): name=PART, id=PART, driver=DRIVER,
    /// label=KEY[=VALUE], type=custom|builtin, dangling=true|false.
    #[arg(short, long = "filter", value_name = "KEY=VALUE",
          value_parser = |s: &str| filter(s, LS_FILTERS))]
    pub filter: Vec<(String, String)>,
}

/// Output format of `network inspect`.
#[derive(Debug, Clone, PartialEq)]
pub enum InspectFormat {
    /// `docker network inspect`'s JSON array.
    Json,
    /// The topology as Graphviz dot (`| dot -Tsvg > net.svg`).
    Dot,
    /// A Go template, applied to each network's document.
    Template(Template),
}

/// Parse `--format` of inspect.
pub fn inspect_format(s: &str) -> Result<InspectFormat, String> {
    match s {
        "" | "json" => Ok(InspectFormat::Json),
        "dot" => Ok(InspectFormat::Dot),
        _ if s.contains("{{") => Template::parse(s)
            .map(InspectFormat::Template)
            .map_err(|e| e.to_string()),
        _ => Err("not json, dot, or a Go template ('{{.Name}}', '{{json .IPAM}}')".into()),
    }
}

/// `brnet network inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Output format: json (docker's array), dot (Graphviz), or a Go
    /// template per network ('{{.Id}}', '{{range .IPAM.Config}}{{.Subnet}}{{end}}').
    #[arg(short, long, default_value = "json", value_parser = inspect_format, value_name = "FORMAT")]
    pub format: InspectFormat,
    /// Networks, by name or id.
    #[arg(required = true, value_name = "NETWORK")]
    pub names: Vec<String>,
}

/// `brnet network rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// No error for a network that does not exist.
    #[arg(short, long)]
    pub force: bool,
    /// Networks, by name or id.
    #[arg(required = true, value_name = "NETWORK")]
    pub names: Vec<String>,
}

/// `brnet network prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Accepted for docker compatibility: brnet never asks.
    #[arg(short, long)]
    pub force: bool,
    /// Only networks that match (repeatable): until=TIMESTAMP|DURATION
    /// (created before: RFC 3339, Unix seconds, or a duration ago such as
    /// 10m, 24h), label=KEY[=VALUE], label!=KEY[=VALUE].
    #[arg(long = "filter", value_name = "KEY=VALUE",
          value_parser = |s: &str| filter(s, PRUNE_FILTERS))]
    pub filter: Vec<(String, String)>,
}

/// `brnet network exists`.
#[derive(Debug, Args)]
pub struct ExistsArgs {
    /// The network, by name or id.
    pub network: String,
}

/// Output format of `network connect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConnectFormat {
    /// One `key  value` line per fact.
    Text,
    /// The endpoint as a JSON object.
    Json,
}

/// `brnet network connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// A fixed IPv4 address in the network's subnet.
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,
    /// A fixed IPv6 address in the network's IPv6 subnet.
    #[arg(long, value_name = "IP")]
    pub ip6: Option<String>,
    /// The interface's MAC address (default: derived from the IPv4
    /// address, 02:42:...).
    #[arg(long, value_name = "MAC")]
    pub mac: Option<String>,
    /// An extra name for the container on this network.
    #[arg(long, value_name = "NAME")]
    pub alias: Vec<String>,
    /// The container's name (default: the namespace's name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Interface name inside the namespace (default: eth0, or the next
    /// free ethN).
    #[arg(long, value_name = "IFNAME")]
    pub ifname: Option<String>,
    /// Publish a port, docker's -p syntax:
    /// `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`, ranges allowed.
    #[arg(short = 'p', long = "publish", value_name = "SPEC")]
    pub publish: Vec<String>,
    /// Gateway priority (Docker 28): the namespace's network with the
    /// highest gives its default route; one higher than the current
    /// holder's takes it over (default 0: the first network's stays).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub gw_priority: Option<i32>,
    /// The runtime's container id (`Containers` key in inspect, shared by
    /// the namespace's endpoints; default: the namespace's other
    /// endpoints', else a new one).
    #[arg(long, value_name = "ID")]
    pub container_id: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ConnectFormat::Text)]
    pub format: ConnectFormat,
    /// The network, by name or id.
    pub network: String,
    /// The namespace: a name under /run/netns, or a path
    /// (/proc/PID/ns/net).
    pub netns: String,
}

/// `brnet network disconnect`.
///
/// Several namespaces in one call pay the kernel's wait for a veth delete
/// (an RCU grace period, tens of milliseconds) once for all of them.
#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Disconnect each NETNS from every network it is on (then every
    /// operand is a namespace).
    #[arg(long)]
    pub all: bool,
    /// The network, by name or id (with --all: the first namespace).
    #[arg(value_name = "NETWORK")]
    pub network: String,
    /// The namespaces: names under /run/netns, or paths.
    #[arg(required_unless_present = "all")]
    pub netns: Vec<String>,
}

impl DisconnectArgs {
    /// The namespaces named: with --all, every operand.
    pub fn namespaces(&self) -> Vec<&str> {
        let first = self.all.then_some(self.network.as_str());
        first
            .into_iter()
            .chain(self.netns.iter().map(String::as_str))
            .collect()
    }
}

/// `brnet netns ...`.
#[derive(Debug, Subcommand)]
pub enum NetnsCommand {
    /// Create a named network namespace.
    Add {
        /// Its name.
        name: String,
    },
    /// Delete a named network namespace (its veths go with it; the next
    /// brnet command forgets their endpoints).
    #[command(visible_alias = "delete")]
    Del {
        /// Its name.
        name: String,
    },
    /// List named network namespaces.
    #[command(visible_alias = "list")]
    Ls,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn repeated_flags_and_globals() {
        let cli = Cli::try_parse_from([
            "brnet",
            "network",
            "create",
            "--subnet",
            "172.20.0.0/16",
            "--subnet",
            "fd00::/64",
            "-o",
            "com.docker.network.driver.mtu=1400",
            "n1",
            "--state-dir",
            "/tmp/x",
        ])
        .unwrap();
        assert_eq!(cli.state_dir, PathBuf::from("/tmp/x"));
        let Command::Network(NetworkCommand::Create(c)) = cli.command else {
            panic!("not create");
        };
        assert_eq!(c.subnet, ["172.20.0.0/16", "fd00::/64"]);
        assert_eq!(c.opt.len(), 1);
        assert_eq!(c.name, "n1");
    }
}
