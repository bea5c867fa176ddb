//! `brnet dns serve`: the name resolver of a state directory's DNS-enabled
//! networks — brnet-dns's server ([`brnet_dns::serve`], also the
//! `brnet-dns` binary that bridge-net starts), with the same command line.

use std::path::Path;

use crate::args::DnsServeArgs;
use crate::failure::{Failed, Failures};

/// Serve until nothing is left to serve.
pub fn serve(state_dir: &Path, args: &DnsServeArgs) -> Result<(), Failures> {
    let opts = brnet_dns::serve::ServeOptions {
        port: args.port,
        upstreams: args.upstreams.clone(),
        resolv_conf: args.resolv_conf.clone(),
    };
    brnet_dns::serve::serve(state_dir, &opts).map_err(|e| vec![Failed::new("dns serve", e)])
}
