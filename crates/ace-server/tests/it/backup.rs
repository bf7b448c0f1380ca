//! Backups: an online copy of the SQLite database, restored into a fresh data directory, serves
//! the partner exactly what it saw before — minus what was crypto-shredded (REM-2).

use std::sync::Arc;

use ace_store::{SqlStore, Store};
use serde_json::json;

use crate::opportunities::create;
use crate::referrals::{accept, eligible_partner, refer};
use crate::support::{client_at, TestApp};

async fn ids(client: &aws_sdk_partnercentralselling::Client) -> Vec<String> {
    let listed = client.list_opportunities().catalog("AWS").send().await.unwrap();
    let mut ids: Vec<String> = listed.opportunity_summaries().iter().filter_map(|s| s.id().map(str::to_string)).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_restored_backup_serves_what_the_partner_saw_minus_shredded_data() {
    let app = TestApp::start().await;
    let c = eligible_partner(&app, "P-A").await;
    let client = app.client(&c);
    create(&client, "AWS", "Kept Corp").await;
    let kept = refer(&app, "P-A", "Keptref", "k@keptref.example.com").await;
    let gone = refer(&app, "P-A", "Goneref", "g@goneref.example.com").await;
    accept(&client, &gone, "t-gone").await;
    app.operator("POST", &format!("/referrals/{gone}/revoke"), json!({"reason": "test"})).await;
    let before = ids(&client).await;
    assert_eq!(before.len(), 1, "the revoked referral's opportunity is gone already");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.db");
    let made = app.operator("POST", "/backup", json!({"to": file})).await;
    assert!(made["bytes"].as_u64().unwrap() > 0, "{made}");
    let (status, refused) = app.operator_raw("POST", "/backup", json!({"to": file})).await;
    assert_eq!(status, 409, "a backup never overwrites: {refused}");
    let (status, _) = app.operator_raw("POST", "/backup", json!({"to": "relative.db"})).await;
    assert_eq!(status, 400);
    let bytes = std::fs::read(&file).unwrap();
    assert!(!bytes.windows(9).any(|w| w == b"g@goneref"), "no trace of the shredded referral in the backup");

    // A fresh data directory, the same server key: a second server on the restored copy.
    let wrap = app.state.server_key.referral_key_wrap();
    let restored = SqlStore::restore_sqlite(&file, &dir.path().join("restored")).await.unwrap();
    let restored: Arc<dyn Store> = Arc::new(restored.seal_keys_under(wrap));
    assert!(SqlStore::restore_sqlite(&file, &dir.path().join("restored")).await.is_err(), "never over an existing database");
    let node = app.state.node_on(restored.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(ace_server::serve(listener, node, std::future::pending()));
    let after_client = client_at(&endpoint, &c);
    assert_eq!(ids(&after_client).await, before, "the partner sees exactly what it saw");
    let invitation = after_client.get_engagement_invitation().catalog("AWS").identifier(&kept).send().await.unwrap();
    assert_eq!(invitation.id(), kept.as_str());
    let kept_record = restored.get_referral(&kept).await.unwrap().unwrap();
    assert_eq!(kept_record.contact.email.as_deref(), Some("k@keptref.example.com"), "sealed data opens with its key");
    let gone_record = restored.get_referral(&gone).await.unwrap().unwrap();
    assert!(gone_record.data_deleted && gone_record.contact.email.is_none(), "shredded data stays shredded");
}

/// Issue 21: the database, its WAL and `ace backup` output were created 0644 in a 0755
/// directory. The data directory is 0700 and every file in it that holds data 0600 — also
/// when an earlier install left them readable — and so is a backup.
#[tokio::test]
async fn rem_2_the_database_its_wal_and_backups_are_private_to_the_server() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = SqlStore::open_sqlite(&data, "FULL").await.unwrap();
    drop(store);
    // As an earlier release left them.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(data.join("ace.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = SqlStore::open_sqlite(&data, "FULL").await.unwrap();
    store.commit(ace_store::WriteBatch::default()).await.unwrap();
    assert_eq!(mode(&data), 0o700);
    for file in ["ace.db", "ace.db-wal", "ace.db-shm"] {
        let path = data.join(file);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{file}");
        }
    }
    assert!(data.join("ace.db-wal").exists(), "the WAL is checked too");
    let backup = dir.path().join("backup.db");
    store.backup_to(&backup).await.unwrap();
    assert_eq!(mode(&backup), 0o600, "the backup");
    assert!(std::fs::metadata(&backup).unwrap().len() > 0);
}
