//! The portico gateway: listeners, sniff → route → forward, HTTP-01
//! handling and operations.
