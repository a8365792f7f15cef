//! Leases: a claim with an expiry that one server replica holds on a row, so that replicas never
//! act on the same thing at once. The scheduler's leader holds the named `scheduler` row of
//! `leases`; a deploy worker holds its `deployments` row (`lease_owner`, `lease_until`). Both are
//! claimed the same way: a single conditional UPDATE that succeeds when the lease is free,
//! expired or already ours, so the database decides every race.

use crate::db::entity::lease;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, sea_query::Expr,
};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

/// This replica's claims: its name and how long a claim lasts unless renewed.
#[derive(Clone, Debug)]
pub struct Lease {
    pub replica: String,
    pub length: Duration,
}

/// The owner and expiry columns of a leased row.
pub struct Columns<C> {
    pub owner: C,
    pub until: C,
}

impl Lease {
    /// When a claim made at `now` runs out.
    pub fn until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.length).unwrap_or(chrono::Duration::seconds(30))
    }

    /// Claims or renews the lease on the rows of `E` that `row` selects (one row); false when
    /// another replica holds it.
    pub async fn claim<E, C>(&self, db: &C, row: Condition, cols: Columns<E::Column>) -> Result<bool, DbErr>
    where
        E: EntityTrait,
        C: ConnectionTrait,
    {
        let now = Utc::now();
        let res = E::update_many()
            .col_expr(cols.owner, Expr::value(self.replica.clone()))
            .col_expr(cols.until, Expr::value(self.until(now)))
            .filter(row)
            .filter(
                Condition::any()
                    .add(cols.until.is_null())
                    .add(cols.until.lt(now))
                    .add(cols.owner.eq(self.replica.clone())),
            )
            .exec(db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Gives a lease up, if this replica holds it (nullable columns only).
    pub async fn release<E, C>(&self, db: &C, row: Condition, cols: Columns<E::Column>) -> Result<(), DbErr>
    where
        E: EntityTrait,
        C: ConnectionTrait,
    {
        E::update_many()
            .col_expr(cols.owner, Expr::value(Option::<String>::None))
            .col_expr(cols.until, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(row)
            .filter(cols.owner.eq(self.replica.clone()))
            .exec(db)
            .await
            .map(|_| ())
    }

    /// Claims or renews the named lease in `leases`; the first claim inserts its row (a
    /// conflict there means another replica was first).
    pub async fn claim_named<C: ConnectionTrait>(&self, db: &C, name: &str) -> Result<bool, DbErr> {
        let cols = Columns {
            owner: lease::Column::Owner,
            until: lease::Column::Until,
        };
        if self
            .claim::<lease::Entity, _>(db, Condition::all().add(lease::Column::Name.eq(name)), cols)
            .await?
        {
            return Ok(true);
        }
        if lease::Entity::find_by_id(name.to_owned())
            .one(db)
            .await?
            .is_some()
        {
            return Ok(false);
        }
        Ok(lease::ActiveModel {
            name: Set(name.into()),
            owner: Set(self.replica.clone()),
            until: Set(self.until(Utc::now())),
        }
        .insert(db)
        .await
        .is_ok())
    }
}

/// Whether this replica leads: set by the scheduler, read by the poller (which polls only on the
/// leader).
#[derive(Clone, Default)]
pub struct Leadership(Arc<AtomicBool>);

impl Leadership {
    /// A leadership that always leads (tests and benchmarks without a scheduler).
    pub fn always() -> Self {
        Leadership(Arc::new(AtomicBool::new(true)))
    }

    pub fn is_leader(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self, leader: bool) {
        self.0.store(leader, Ordering::Relaxed);
    }
}
