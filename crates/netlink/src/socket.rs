//! The rtnetlink socket: requests, gets and dumps of links, addresses,
//! routes and the rest, over the one netlink [`Transport`].

use std::fmt::Display;

use brnet_netns::Netns;

use crate::error::{Error, Result};
use crate::transport::{DumpPart, Protocol, Transport};

mod addresses;
mod links;
mod routes;

/// One rtnetlink socket, bound to the network namespace it was opened in.
///
/// A socket stays in the namespace it was created in for its whole life, so
/// a socket opened in a container's namespace configures that container
/// from any thread, without entering it. Requests are synchronous: each one
/// waits for the kernel's ack, like `ip(8)`.
#[derive(Debug)]
pub struct Socket {
    t: Transport,
}

impl Socket {
    /// Open a socket in the calling thread's network namespace.
    pub fn new() -> Result<Socket> {
        let t = Transport::open(Protocol::Route)
            .map_err(|f| Error::transport("open", &"rtnetlink socket", f))?;
        Ok(Socket { t })
    }

    /// Open a socket inside `ns`. The socket is created on a short-lived
    /// helper thread that enters the namespace, so the calling thread never
    /// changes namespace; the socket stays bound to `ns` afterwards.
    pub fn open_in(ns: &Netns) -> Result<Socket> {
        ns.run(Socket::new)?
    }

    /// The transport underneath, for messages this crate does not build.
    pub fn transport(&mut self) -> &mut Transport {
        &mut self.t
    }

    /// Send one request built by [`crate::msg`] and wait for its ack.
    /// `op` and `object` name it in the error if the kernel refuses.
    pub fn request(
        &mut self,
        mut msg: Vec<u8>,
        op: &'static str,
        object: &dyn Display,
    ) -> Result<()> {
        self.t
            .request(&mut msg, &mut |_, _| {})
            .map_err(|f| Error::transport(op, object, f))
    }

    /// Send one get request and hand the payload of the answer to `each`.
    pub fn get(
        &mut self,
        mut msg: Vec<u8>,
        op: &'static str,
        object: &dyn Display,
        each: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut first_err = None;
        let r = self.t.request(&mut msg, &mut |_, p| {
            if first_err.is_none()
                && let Err(e) = each(p)
            {
                first_err = Some(e);
            }
        });
        r.map_err(|f| Error::transport(op, object, f))?;
        first_err.map_or(Ok(()), Err)
    }

    /// Run a dump and collect what `parse` makes of each message (`None`:
    /// skip it). A dump the kernel had to run again (the data changed under
    /// it) is collected again from scratch.
    pub fn dump<T>(
        &mut self,
        mut msg: Vec<u8>,
        op: &'static str,
        object: &dyn Display,
        mut parse: impl FnMut(&[u8]) -> Result<Option<T>>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut first_err = None;
        let r = self.t.dump(&mut msg, &mut |part| match part {
            DumpPart::Restart => {
                out.clear();
                first_err = None;
            }
            DumpPart::Data { payload, .. } => match parse(payload) {
                Ok(Some(v)) => out.push(v),
                Ok(None) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            },
        });
        r.map_err(|f| Error::transport(op, object, f))?;
        first_err.map_or(Ok(out), Err)
    }
}
