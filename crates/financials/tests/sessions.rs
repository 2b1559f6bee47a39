//! The web client's sessions on both backends: started, resumed, ended by idleness, age,
//! sign-out or a disabled user; only the token's hash is stored.

use chrono::{DateTime, Duration, Utc};
use kontor_financials::credentials::{self, PermissionSet, Permissions, Secret};
use kontor_financials::sessions::{self, IDLE_TIMEOUT, MAX_LIFETIME};
use kontor_financials::{bootstrap, users};
use kontor_store::Db;
use kontor_store::sea_query::Value;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

async fn admin(db: &Db) -> uuid::Uuid {
    users::list(db).await.unwrap().into_iter().find(|u| u.user_name == "ADMIN").unwrap().id
}

/// How a session is left before it is resumed, and whether it is still live.
struct Case {
    name: &'static str,
    /// Requests at these offsets from sign-in, each resuming the session.
    requests: &'static [i64],
    /// The last resume, minutes after sign-in.
    at: i64,
    sign_out: bool,
    live: bool,
}

const MIN: i64 = 1;
const HOUR: i64 = 60 * MIN;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_lives_until_it_is_idle_too_long_too_old_or_signed_out_on_both_backends() {
    let cases = [
        Case { name: "fresh", requests: &[], at: 5 * MIN, sign_out: false, live: true },
        Case { name: "idle 8 h", requests: &[], at: 8 * HOUR, sign_out: false, live: false },
        Case {
            name: "kept alive by requests",
            requests: &[4 * HOUR, 8 * HOUR, 12 * HOUR],
            at: 16 * HOUR,
            sign_out: false,
            live: true,
        },
        Case {
            name: "older than 24 h though used",
            requests: &[6 * HOUR, 12 * HOUR, 18 * HOUR, 23 * HOUR],
            at: 24 * HOUR,
            sign_out: false,
            live: false,
        },
        Case { name: "signed out", requests: &[], at: MIN, sign_out: true, live: false },
    ];
    assert_eq!(IDLE_TIMEOUT, Duration::hours(8));
    assert_eq!(MAX_LIFETIME, Duration::hours(24));
    kontor_testkit::for_each_backend(|url, backend| {
        let cases = &cases;
        async move {
            let db = Db::connect(&url).await.unwrap();
            bootstrap::bootstrap(&db, Some("admin-password".into())).await.unwrap();
            let user = admin(&db).await;
            for c in cases {
                let token = sessions::start(&db, user, t0()).await.unwrap();
                for m in c.requests {
                    let at = t0() + Duration::minutes(*m);
                    assert!(
                        sessions::resume(&db, &token, at).await.unwrap().is_some(),
                        "{backend} {}",
                        c.name
                    );
                }
                if c.sign_out {
                    assert!(sessions::end(&db, &token).await.unwrap());
                }
                let s =
                    sessions::resume(&db, &token, t0() + Duration::minutes(c.at)).await.unwrap();
                assert_eq!(s.is_some(), c.live, "{backend} {}", c.name);
                if let Some(s) = s {
                    assert_eq!(s.principal.user_name, "ADMIN");
                    assert!(s.principal.permissions.has(PermissionSet::Super));
                    assert_eq!(s.csrf_token, sessions::csrf_token(&token));
                }
                sessions::end(&db, &token).await.unwrap();
                assert_eq!(
                    sessions::count(&db).await.unwrap(),
                    0,
                    "{backend} {}: the row is gone",
                    c.name
                );
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_hash_of_a_session_token_is_stored_and_ended_sessions_are_purged() {
    kontor_testkit::for_each_backend(|url, backend| async move {
        let db = Db::connect(&url).await.unwrap();
        bootstrap::bootstrap(&db, Some("admin-password".into())).await.unwrap();
        let user = admin(&db).await;
        let old = sessions::start(&db, user, t0()).await.unwrap();
        let new = sessions::start(&db, user, t0() + Duration::hours(7)).await.unwrap();
        let stored: Vec<String> = db
            .fetch_all_sql("SELECT token_hash FROM fin_web_session ORDER BY created_at", vec![])
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get("token_hash").unwrap())
            .collect();
        assert_eq!(
            stored,
            [credentials::access_key_hash(&old), credentials::access_key_hash(&new)]
        );
        assert!(!stored.contains(&old.expose().to_owned()), "{backend}");
        let purged = sessions::purge_expired(&db, t0() + Duration::hours(9)).await.unwrap();
        assert_eq!(purged, 1, "{backend}: the idle one");
        assert!(sessions::resume(&db, &new, t0() + Duration::hours(9)).await.unwrap().is_some());
        assert!(sessions::resume(&db, &Secret::new("made-up"), t0()).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_or_changed_permission_sets_take_effect_on_the_next_request() {
    kontor_testkit::for_each_backend(|url, backend| async move {
        let db = Db::connect(&url).await.unwrap();
        bootstrap::bootstrap(&db, Some("admin-password".into())).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        let p = Permissions(vec![PermissionSet::Read]);
        let rec = users::create_user(&mut tx, "ROSA", "Rosa", &p, None, None).await.unwrap();
        tx.commit().await.unwrap();
        let id = rec.id().unwrap();
        let token = sessions::start(&db, id, t0()).await.unwrap();
        let idv = Value::from(id.to_string());
        db.execute_sql(
            "UPDATE fin_user SET permission_sets = 'D365 BUS FULL ACCESS' WHERE id = $1",
            vec![idv.clone()],
        )
        .await
        .unwrap();
        let s = sessions::resume(&db, &token, t0()).await.unwrap().unwrap();
        assert!(s.principal.permissions.has(PermissionSet::BusFullAccess), "{backend}");
        db.execute_sql("UPDATE fin_user SET state = 'Disabled' WHERE id = $1", vec![idv])
            .await
            .unwrap();
        assert!(sessions::resume(&db, &token, t0()).await.unwrap().is_none(), "{backend}");
    })
    .await;
}
