//! The remote driver protocol's messages, as dockerd 20.10 sends and reads
//! them (libnetwork `drivers/remote/api` and `ipams/remote/api`).
//!
//! Go's encoder writes every field of a struct, so most fields are
//! required here only where dockerd always sends them; unknown fields are
//! ignored (later engines add some). Answers leave out what is empty:
//! dockerd fails an endpoint whose answer repeats an interface field it
//! set itself.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `Plugin.Activate`'s answer.
#[derive(Debug, Serialize)]
pub struct Activate {
    /// The interfaces served.
    #[serde(rename = "Implements")]
    pub implements: Vec<&'static str>,
}

/// `NetworkDriver.GetCapabilities`' answer.
#[derive(Debug, Serialize)]
pub struct NetworkCapabilities {
    /// `local`: networks live on this host.
    #[serde(rename = "Scope")]
    pub scope: &'static str,
    /// `local`: reachability is this host's.
    #[serde(rename = "ConnectivityScope")]
    pub connectivity_scope: &'static str,
}

/// One address family's data of a network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct IpamData {
    /// `LocalDefault`, or the IPAM driver's.
    #[serde(rename = "AddressSpace", default)]
    pub address_space: String,
    /// The subnet (CIDR).
    #[serde(rename = "Pool")]
    pub pool: String,
    /// The gateway, as a CIDR (`172.20.0.1/16`); absent when none.
    #[serde(rename = "Gateway", default)]
    pub gateway: Option<String>,
    /// `--aux-address NAME=IP`, each as a CIDR.
    #[serde(rename = "AuxAddresses", default)]
    pub aux_addresses: Option<BTreeMap<String, String>>,
}

/// `NetworkDriver.CreateNetwork`.
#[derive(Debug, Clone, Deserialize)]
pub struct CreateNetwork {
    /// 64 hex digits.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// `com.docker.network.generic` (the `-o` options),
    /// `com.docker.network.enable_ipv6`, `com.docker.network.internal`.
    #[serde(rename = "Options", default)]
    pub options: Option<BTreeMap<String, Value>>,
    /// IPv4 subnets (one, as bridge-net serves them).
    #[serde(rename = "IPv4Data", default)]
    pub ipv4_data: Option<Vec<IpamData>>,
    /// IPv6 subnets.
    #[serde(rename = "IPv6Data", default)]
    pub ipv6_data: Option<Vec<IpamData>>,
}

/// A request naming one network (`DeleteNetwork`).
#[derive(Debug, Clone, Deserialize)]
pub struct NetworkRef {
    /// 64 hex digits.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
}

/// The interface of an endpoint, as dockerd fills it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct EndpointInterface {
    /// IPv4 address with prefix (dockerd's IPAM chose it).
    #[serde(rename = "Address", default, skip_serializing_if = "String::is_empty")]
    pub address: String,
    /// IPv6 address with prefix, on `--ipv6` networks.
    #[serde(
        rename = "AddressIPv6",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub address_ipv6: String,
    /// `aa:bb:cc:dd:ee:ff`, when the user gave `--mac-address`.
    #[serde(
        rename = "MacAddress",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub mac_address: String,
}

/// `NetworkDriver.CreateEndpoint`.
#[derive(Debug, Clone, Deserialize)]
pub struct CreateEndpoint {
    /// The network.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// 64 hex digits.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// The addresses. (Its `Options` carry the port maps, which come
    /// again with ProgramExternalConnectivity to the endpoint that
    /// publishes them: not read here.)
    #[serde(rename = "Interface", default)]
    pub interface: Option<EndpointInterface>,
}

/// `CreateEndpoint`'s answer: only fields dockerd left empty.
#[derive(Debug, Default, Serialize)]
pub struct CreateEndpointReply {
    /// What the driver chose.
    #[serde(rename = "Interface")]
    pub interface: EndpointInterface,
}

/// A request naming one endpoint (`DeleteEndpoint`, `EndpointOperInfo`,
/// `Leave`, `RevokeExternalConnectivity`).
#[derive(Debug, Clone, Deserialize)]
pub struct EndpointRef {
    /// The network.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// The endpoint.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
}

/// `EndpointOperInfo`'s answer.
#[derive(Debug, Default, Serialize)]
pub struct OperInfo {
    /// Free-form; dockerd shows it nowhere useful.
    #[serde(rename = "Value")]
    pub value: BTreeMap<String, Value>,
}

/// `NetworkDriver.Join`.
#[derive(Debug, Clone, Deserialize)]
pub struct Join {
    /// The network.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// The endpoint.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// `<exec-root>/netns/<12 hex>`: not there yet on `docker run`, never
    /// opened here.
    #[serde(rename = "SandboxKey", default)]
    pub sandbox_key: String,
}

/// The interface dockerd moves into the sandbox.
#[derive(Debug, Serialize)]
pub struct InterfaceName {
    /// Its name here, in the host's namespace.
    #[serde(rename = "SrcName")]
    pub src_name: String,
    /// The name inside is this + the lowest free index.
    #[serde(rename = "DstPrefix")]
    pub dst_prefix: &'static str,
}

/// `Join`'s answer.
#[derive(Debug, Serialize)]
pub struct JoinReply {
    /// The interface.
    #[serde(rename = "InterfaceName")]
    pub interface_name: InterfaceName,
    /// The IPv4 gateway, a bare address; absent on internal networks.
    #[serde(rename = "Gateway", skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// The IPv6 gateway.
    #[serde(rename = "GatewayIPv6", skip_serializing_if = "Option::is_none")]
    pub gateway_ipv6: Option<String>,
    /// No docker_gwbridge for this sandbox's sake.
    #[serde(rename = "DisableGatewayService")]
    pub disable_gateway_service: bool,
}

/// `ProgramExternalConnectivity`.
#[derive(Debug, Clone, Deserialize)]
pub struct ProgramExternal {
    /// The network.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// The endpoint: the sandbox's gateway endpoint.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// `com.docker.network.portmap`: [`PortBinding`]s.
    #[serde(rename = "Options", default)]
    pub options: Option<BTreeMap<String, Value>>,
}

/// The option carrying a container's published ports.
pub const PORTMAP: &str = "com.docker.network.portmap";

/// One `-p` binding (libnetwork `types.PortBinding`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PortBinding {
    /// 6 tcp, 17 udp, 132 sctp.
    #[serde(rename = "Proto")]
    pub proto: u8,
    /// The container's address (empty: filled by dockerd later; unused).
    #[serde(rename = "IP", default)]
    pub ip: String,
    /// The container port.
    #[serde(rename = "Port")]
    pub port: u16,
    /// The host address; empty: every address.
    #[serde(rename = "HostIP", default)]
    pub host_ip: String,
    /// The host port; 0: the driver picks.
    #[serde(rename = "HostPort", default)]
    pub host_port: u16,
    /// The last port of a host range (`-p 8081-8085:80` means any one of
    /// them); 0 or equal: one port.
    #[serde(rename = "HostPortEnd", default)]
    pub host_port_end: u16,
}

/// The empty answer, `{}`.
#[derive(Debug, Serialize)]
pub struct Empty {}

/// A NetworkDriver failure.
#[derive(Debug, Serialize)]
pub struct ErrReply {
    /// The message dockerd shows (`remote: ...` or as is).
    #[serde(rename = "Err")]
    pub err: String,
}

// ---- IPAM ----

/// `IpamDriver.GetCapabilities`' answer.
#[derive(Debug, Serialize)]
pub struct IpamCapabilities {
    /// No MAC needed to choose an address.
    #[serde(rename = "RequiresMACAddress")]
    pub requires_mac_address: bool,
    /// Pools are persisted here: no replay at dockerd's start.
    #[serde(rename = "RequiresRequestReplay")]
    pub requires_request_replay: bool,
}

/// `GetDefaultAddressSpaces`' answer.
#[derive(Debug, Serialize)]
pub struct AddressSpaces {
    /// For local networks.
    #[serde(rename = "LocalDefaultAddressSpace")]
    pub local: &'static str,
    /// For swarm networks.
    #[serde(rename = "GlobalDefaultAddressSpace")]
    pub global: &'static str,
}

/// `RequestPool`.
#[derive(Debug, Clone, Deserialize)]
pub struct RequestPool {
    /// The address space.
    #[serde(rename = "AddressSpace", default)]
    pub address_space: String,
    /// The subnet; empty: the driver chooses.
    #[serde(rename = "Pool", default)]
    pub pool: String,
    /// `--ip-range`.
    #[serde(rename = "SubPool", default)]
    pub sub_pool: String,
    /// An IPv6 pool. (`Options`, the `--ipam-opt`s, are not read: none
    /// is defined.)
    #[serde(rename = "V6", default)]
    pub v6: bool,
}

/// `RequestPool`'s answer.
#[derive(Debug, Serialize)]
pub struct RequestPoolReply {
    /// Opaque to dockerd.
    #[serde(rename = "PoolID")]
    pub pool_id: String,
    /// The subnet.
    #[serde(rename = "Pool")]
    pub pool: String,
    /// Extra data.
    #[serde(rename = "Data")]
    pub data: BTreeMap<String, String>,
}

/// `ReleasePool`.
#[derive(Debug, Clone, Deserialize)]
pub struct PoolRef {
    /// The pool.
    #[serde(rename = "PoolID")]
    pub pool_id: String,
}

/// `RequestAddress`.
#[derive(Debug, Clone, Deserialize)]
pub struct RequestAddress {
    /// The pool.
    #[serde(rename = "PoolID")]
    pub pool_id: String,
    /// A bare address (`--ip`, `--gateway`, an aux address); empty: any.
    #[serde(rename = "Address", default)]
    pub address: String,
    /// `RequestAddressType=com.docker.network.gateway` for the gateway.
    #[serde(rename = "Options", default)]
    pub options: Option<BTreeMap<String, String>>,
}

/// The option marking the gateway's request.
pub const REQUEST_ADDRESS_TYPE: &str = "RequestAddressType";
/// Its value for the gateway.
pub const GATEWAY_TYPE: &str = "com.docker.network.gateway";

/// `RequestAddress`'s answer.
#[derive(Debug, Serialize)]
pub struct RequestAddressReply {
    /// The address with the pool's prefix.
    #[serde(rename = "Address")]
    pub address: String,
    /// Extra data.
    #[serde(rename = "Data")]
    pub data: BTreeMap<String, String>,
}

/// `ReleaseAddress`.
#[derive(Debug, Clone, Deserialize)]
pub struct ReleaseAddress {
    /// The pool.
    #[serde(rename = "PoolID")]
    pub pool_id: String,
    /// A bare address.
    #[serde(rename = "Address")]
    pub address: String,
}

/// An IPAM failure: dockerd reads `Err` from a non-200 answer and `Error`
/// from a 200 one; both are sent, with status 500.
#[derive(Debug, Serialize)]
pub struct IpamErrReply {
    /// For the error path.
    #[serde(rename = "Err")]
    pub err: String,
    /// For the success structs' field.
    #[serde(rename = "Error")]
    pub error: String,
}

#[cfg(test)]
mod tests {
    //! The requests below are the ones dockerd 20.10.24 sent, copied from
    //! the request log in reference/docker-remote-driver.md.
    use super::*;

    const ID: &str = "1e2f0d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

    #[test]
    fn create_network_with_every_option() {
        let body = format!(
            r#"{{"NetworkID":"{ID}","IPv4Data":[{{"AddressSpace":"LocalDefault","Pool":"172.30.0.0/24","Gateway":"172.30.0.1/24","AuxAddresses":{{"a1":"172.30.0.10/24"}}}}],
            "IPv6Data":[{{"AddressSpace":"LocalDefault","Pool":"fd00:30::/64","Gateway":"fd00:30::1/64"}}],
            "Options":{{"com.docker.network.enable_ipv6":true,"com.docker.network.generic":{{"foo":"bar"}},"com.docker.network.internal":true}}}}"#
        );
        let r: CreateNetwork = serde_json::from_str(&body).unwrap();
        assert_eq!(r.network_id, ID);
        let v4 = &r.ipv4_data.as_ref().unwrap()[0];
        assert_eq!(v4.pool, "172.30.0.0/24");
        assert_eq!(v4.gateway.as_deref(), Some("172.30.0.1/24"));
        assert_eq!(
            v4.aux_addresses.as_ref().unwrap()["a1"],
            "172.30.0.10/24".to_owned()
        );
        assert_eq!(r.ipv6_data.as_ref().unwrap()[0].pool, "fd00:30::/64");
        let o = r.options.unwrap();
        assert_eq!(o["com.docker.network.internal"], Value::Bool(true));
        assert_eq!(o["com.docker.network.generic"]["foo"], "bar");
    }

    #[test]
    fn create_endpoint_with_ports_and_mac() {
        let body = format!(
            r#"{{"NetworkID":"{ID}","EndpointID":"{ID}","Interface":{{"Address":"172.20.0.2/16","AddressIPv6":"","MacAddress":""}},
            "Options":{{"com.docker.network.endpoint.exposedports":[{{"Proto":6,"Port":80}}],
            "com.docker.network.endpoint.macaddress":"AgAAAABC",
            "com.docker.network.portmap":[{{"Proto":6,"IP":"","Port":80,"HostIP":"","HostPort":8081,"HostPortEnd":8081}}]}}}}"#
        );
        let r: CreateEndpoint = serde_json::from_str(&body).unwrap();
        let i = r.interface.unwrap();
        assert_eq!(i.address, "172.20.0.2/16");
        assert!(i.mac_address.is_empty());
        let v: Value = serde_json::from_str(&body).unwrap();
        let ports: Vec<PortBinding> =
            serde_json::from_value(v["Options"][PORTMAP].clone()).unwrap();
        assert_eq!(ports[0].host_port, 8081);
        assert_eq!(ports[0].proto, 6);
    }

    #[test]
    fn join_answer_has_only_what_dockerd_reads() {
        let r: Join = serde_json::from_str(&format!(
            r#"{{"NetworkID":"{ID}","EndpointID":"{ID}","SandboxKey":"/run/dk/exec/netns/0512a780cdae","Options":{{}}}}"#
        ))
        .unwrap();
        assert!(r.sandbox_key.ends_with("0512a780cdae"));
        let reply = JoinReply {
            interface_name: InterfaceName {
                src_name: "veth1234567".into(),
                dst_prefix: "eth",
            },
            gateway: Some("172.20.0.1".into()),
            gateway_ipv6: None,
            disable_gateway_service: false,
        };
        assert_eq!(
            serde_json::to_string(&reply).unwrap(),
            r#"{"InterfaceName":{"SrcName":"veth1234567","DstPrefix":"eth"},"Gateway":"172.20.0.1","DisableGatewayService":false}"#
        );
    }

    #[test]
    fn endpoint_answer_never_echoes_empty_fields() {
        let mut r = CreateEndpointReply::default();
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"Interface":{}}"#);
        r.interface.mac_address = "02:42:ac:14:00:02".into();
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"Interface":{"MacAddress":"02:42:ac:14:00:02"}}"#
        );
    }

    #[test]
    fn ipam_requests() {
        let r: RequestPool = serde_json::from_str(
            r#"{"AddressSpace":"mylocal","Pool":"172.40.0.0/24","SubPool":"","Options":{"zone":"a"},"V6":false}"#,
        )
        .unwrap();
        assert_eq!(r.pool, "172.40.0.0/24");
        assert!(!r.v6);
        let r: RequestAddress = serde_json::from_str(
            r#"{"PoolID":"x","Address":"","Options":{"RequestAddressType":"com.docker.network.gateway"}}"#,
        )
        .unwrap();
        assert_eq!(r.options.unwrap()[REQUEST_ADDRESS_TYPE], GATEWAY_TYPE);
        let r: RequestAddress =
            serde_json::from_str(r#"{"PoolID":"x","Address":"172.40.0.9","Options":null}"#)
                .unwrap();
        assert_eq!(r.address, "172.40.0.9");
        let r: ReleaseAddress =
            serde_json::from_str(r#"{"PoolID":"x","Address":"172.40.0.2"}"#).unwrap();
        assert_eq!(r.address, "172.40.0.2");
    }
}
