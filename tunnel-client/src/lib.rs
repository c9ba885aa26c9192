//! The portico tunnel client: link client and local delivery.
