//! Images: pull, import and unpack, client-side.
