//! The behavioural suite on PostgreSQL with the Redis broker: every node of a case is a
//! node of one deployment (one database, one Redis key prefix), and clients cannot tell it
//! from the embedded default.

mod behaviour;

use behaviour::distributed::DistributedFixture;

behaviour_suite!(DistributedFixture::new().await);
