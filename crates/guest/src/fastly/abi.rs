//! The few Fastly Compute hostcalls the handler uses, and safe wrappers.
//!
//! These are the `fastly_*` import modules every Compute program links
//! against (the ABI of Fastly's `fastly-sys` crate and Viceroy's
//! `compute-at-edge-abi`): numeric handles, buffers passed as pointer and
//! length, a `fastly_status` result (0 is success). Written out here
//! rather than taken from the `fastly` crate, which builds only for
//! `wasm32-wasip1`: this engine is built for `wasm32-unknown-unknown` like
//! the other two, sharing their dependencies' build, and imports nothing
//! else.

/// A `fastly_status` other than success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Status(u32);

impl Status {
    /// The buffer was too small; the needed length was written.
    const BUFLEN: u32 = 4;

    fn check(code: u32) -> Result<(), Status> {
        if code == 0 { Ok(()) } else { Err(Status(code)) }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The names of `fastly_status`'s values, as the ABI defines them.
        const NAMES: [&str; 15] = [
            "ok",
            "error",
            "inval",
            "badf",
            "buflen",
            "unsupported",
            "badalign",
            "httpinvalid",
            "httpuser",
            "httpincomplete",
            "none",
            "httpheadtoolarge",
            "httpinvalidstatus",
            "limitexceeded",
            "again",
        ];
        match NAMES.get(self.0 as usize) {
            Some(name) => write!(f, "fastly status {name}"),
            None => write!(f, "fastly status {}", self.0),
        }
    }
}

/// The imports, declared for every target so that the handler is
/// type-checked and linted natively too (`cargo clippy --all-features`);
/// only the wasm engine links them, natively nothing calls them.
mod imports {
    #[link(wasm_import_module = "fastly_http_req")]
    unsafe extern "C" {
        pub fn body_downstream_get(req_out: *mut u32, body_out: *mut u32) -> u32;
        pub fn method_get(req: u32, buf: *mut u8, len: usize, nwritten: *mut usize) -> u32;
        pub fn uri_get(req: u32, buf: *mut u8, len: usize, nwritten: *mut usize) -> u32;
        pub fn header_names_get(
            req: u32,
            buf: *mut u8,
            len: usize,
            cursor: u32,
            ending_cursor: *mut i64,
            nwritten: *mut usize,
        ) -> u32;
        pub fn header_values_get(
            req: u32,
            name: *const u8,
            name_len: usize,
            buf: *mut u8,
            len: usize,
            cursor: u32,
            ending_cursor: *mut i64,
            nwritten: *mut usize,
        ) -> u32;
    }

    #[link(wasm_import_module = "fastly_http_body")]
    unsafe extern "C" {
        // `new` is also `fastly_http_resp`'s: one name in two modules,
        // which a native build would see as one symbol.
        #[allow(clashing_extern_declarations)]
        pub fn new(body_out: *mut u32) -> u32;
        pub fn read(body: u32, buf: *mut u8, len: usize, nread: *mut usize) -> u32;
        /// `end` 0 appends at the back.
        pub fn write(body: u32, buf: *const u8, len: usize, end: u32, nwritten: *mut usize) -> u32;
    }

    #[link(wasm_import_module = "fastly_http_resp")]
    unsafe extern "C" {
        #[allow(clashing_extern_declarations)]
        #[link_name = "new"]
        pub fn resp_new(resp_out: *mut u32) -> u32;
        pub fn status_set(resp: u32, status: u32) -> u32;
        pub fn header_append(
            resp: u32,
            name: *const u8,
            name_len: usize,
            value: *const u8,
            value_len: usize,
        ) -> u32;
        pub fn send_downstream(resp: u32, body: u32, streaming: u32) -> u32;
    }
}

/// The downstream (client's) request.
pub(crate) struct Request(u32);

/// A header's name and one of its values, as bytes.
pub(crate) type Header = (Vec<u8>, Vec<u8>);

/// A body: the request's, or one being written for the response.
pub(crate) struct Body(u32);

/// A response not yet sent.
pub(crate) struct Response(u32);

/// The request this instance was started for, and its body.
pub(crate) fn downstream() -> Result<(Request, Body), Status> {
    let (mut req, mut body) = (0, 0);
    // SAFETY: both out-pointers are valid for a `u32` write.
    Status::check(unsafe { imports::body_downstream_get(&mut req, &mut body) })?;
    Ok((Request(req), Body(body)))
}

/// Calls a hostcall that writes into a buffer, growing the buffer to the
/// length it asks for when too small.
fn read_growing(
    mut call: impl FnMut(*mut u8, usize, *mut usize) -> u32,
) -> Result<Vec<u8>, Status> {
    let mut buf = vec![0u8; 1024];
    loop {
        let mut nwritten = 0usize;
        match call(buf.as_mut_ptr(), buf.len(), &mut nwritten) {
            0 => {
                buf.truncate(nwritten.min(buf.len()));
                return Ok(buf);
            }
            Status::BUFLEN if nwritten > buf.len() => buf.resize(nwritten, 0),
            // Too small, with no length said: double it, up to the largest
            // URI or header any front end passes.
            Status::BUFLEN if buf.len() < 1 << 20 => {
                let doubled = buf.len() * 2;
                buf.resize(doubled, 0);
            }
            code => return Err(Status(code)),
        }
    }
}

/// Reads every item of a multi-value hostcall (NUL-terminated items, a
/// cursor to resume from, -1 once all are read).
fn read_items(
    mut call: impl FnMut(*mut u8, usize, u32, *mut i64, *mut usize) -> u32,
) -> Result<Vec<Vec<u8>>, Status> {
    let mut items = Vec::new();
    let mut cursor = 0u32;
    loop {
        let mut ending = -1i64;
        let chunk =
            read_growing(|buf, len, nwritten| call(buf, len, cursor, &mut ending, nwritten))?;
        items.extend(
            chunk
                .split(|&b| b == 0)
                .filter(|item| !item.is_empty())
                .map(<[u8]>::to_vec),
        );
        match u32::try_from(ending) {
            Ok(next) if next > cursor => cursor = next,
            // -1 (done), or a cursor that does not move on.
            _ => return Ok(items),
        }
    }
}

impl Request {
    pub(crate) fn method(&self) -> Result<String, Status> {
        let bytes = read_growing(|buf, len, nwritten| {
            // SAFETY: `buf` is valid for `len` bytes, `nwritten` for a write.
            unsafe { imports::method_get(self.0, buf, len, nwritten) }
        })?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The request's URI as the host gives it: absolute
    /// (`http://host/path?query`).
    pub(crate) fn uri(&self) -> Result<String, Status> {
        let bytes = read_growing(|buf, len, nwritten| {
            // SAFETY: as in `method`.
            unsafe { imports::uri_get(self.0, buf, len, nwritten) }
        })?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Every header as (name, value), one entry per value.
    pub(crate) fn headers(&self) -> Result<Vec<Header>, Status> {
        let names = read_items(|buf, len, cursor, ending, nwritten| {
            // SAFETY: `buf` is valid for `len` bytes, the out-pointers for
            // their writes.
            unsafe { imports::header_names_get(self.0, buf, len, cursor, ending, nwritten) }
        })?;
        let mut headers = Vec::new();
        for name in names {
            let values = read_items(|buf, len, cursor, ending, nwritten| {
                // SAFETY: as above; `name` is valid for its length.
                unsafe {
                    imports::header_values_get(
                        self.0,
                        name.as_ptr(),
                        name.len(),
                        buf,
                        len,
                        cursor,
                        ending,
                        nwritten,
                    )
                }
            })?;
            headers.extend(values.into_iter().map(|value| (name.clone(), value)));
        }
        Ok(headers)
    }
}

impl Body {
    pub(crate) fn new() -> Result<Body, Status> {
        let mut body = 0;
        // SAFETY: the out-pointer is valid for a `u32` write.
        Status::check(unsafe { imports::new(&mut body) })?;
        Ok(Body(body))
    }

    /// The whole body, or `None` as soon as it proves longer than `limit`
    /// bytes (the rest left unread). Read in pieces and put together once
    /// its length is known: a vector doubling towards the limit would hold
    /// one and a half times the body, and Fastly gives an instance 128 MB.
    pub(crate) fn read_within(&self, limit: usize) -> Result<Option<Vec<u8>>, Status> {
        let mut pieces = Vec::new();
        let mut total = 0usize;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let mut nread = 0usize;
            // SAFETY: `chunk` is valid for its length, `nread` for a write.
            Status::check(unsafe {
                imports::read(self.0, chunk.as_mut_ptr(), chunk.len(), &mut nread)
            })?;
            let nread = nread.min(chunk.len());
            if nread == 0 {
                break;
            }
            total += nread;
            if total > limit {
                return Ok(None);
            }
            pieces.push(chunk[..nread].to_vec());
        }
        let mut body = Vec::with_capacity(total);
        for piece in pieces {
            body.extend_from_slice(&piece);
        }
        Ok(Some(body))
    }

    /// Appends all of `bytes`.
    pub(crate) fn write_all(&self, mut bytes: &[u8]) -> Result<(), Status> {
        while !bytes.is_empty() {
            let mut nwritten = 0usize;
            // SAFETY: `bytes` is valid for its length, `nwritten` for a write.
            Status::check(unsafe {
                imports::write(self.0, bytes.as_ptr(), bytes.len(), 0, &mut nwritten)
            })?;
            if nwritten == 0 {
                return Err(Status(1));
            }
            bytes = &bytes[nwritten.min(bytes.len())..];
        }
        Ok(())
    }
}

impl Response {
    pub(crate) fn new(status: u16) -> Result<Response, Status> {
        let mut resp = 0;
        // SAFETY: the out-pointer is valid for a `u32` write.
        Status::check(unsafe { imports::resp_new(&mut resp) })?;
        // SAFETY: plain values.
        Status::check(unsafe { imports::status_set(resp, u32::from(status)) })?;
        Ok(Response(resp))
    }

    pub(crate) fn append_header(&self, name: &str, value: &str) -> Result<(), Status> {
        // SAFETY: both buffers are valid for their lengths.
        Status::check(unsafe {
            imports::header_append(
                self.0,
                name.as_ptr(),
                name.len(),
                value.as_ptr(),
                value.len(),
            )
        })
    }

    /// Sends the response with `body` (whole, not streamed).
    pub(crate) fn send(self, body: Body) -> Result<(), Status> {
        // SAFETY: plain handles.
        Status::check(unsafe { imports::send_downstream(self.0, body.0, 0) })
    }
}
