//! AlterReplicaLogDirs: this broker has one log directory. Moving a replica into it is already
//! done; any other path is not one of this broker's log directories (LOG_DIR_NOT_FOUND).

use std::path::Path;
use std::sync::Arc;

use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use kafka_protocol::messages::{AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse};

use super::{ApiHandler, errors};
use crate::auth::RequestContext;
use crate::metadata::acls::operation as op;

pub fn handle(
    api: &Arc<ApiHandler>,
    ctx: &RequestContext<'_>,
    request: AlterReplicaLogDirsRequest,
) -> AlterReplicaLogDirsResponse {
    // ALTER on the cluster; a refused caller gets the error on every partition it named.
    let authorized = ctx.authorize_cluster(op::ALTER);
    let data_dir = api.logs.data_dir();
    let ours = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let mut results = Vec::new();
    for dir in request.dirs {
        let known =
            Path::new(dir.path.as_str()) == ours || std::fs::canonicalize(dir.path.as_str()).is_ok_and(|p| p == ours);
        for t in dir.topics {
            let topic = api.topics.get(t.name.as_str());
            let partitions = t
                .partitions
                .iter()
                .map(|&p| {
                    let code = if !authorized {
                        errors::CLUSTER_AUTHORIZATION_FAILED
                    } else if !known {
                        errors::LOG_DIR_NOT_FOUND
                    } else if topic.as_ref().is_some_and(|t| (0..t.partitions).contains(&p)) {
                        errors::NONE
                    } else {
                        errors::UNKNOWN_TOPIC_OR_PARTITION
                    };
                    AlterReplicaLogDirPartitionResult::default()
                        .with_partition_index(p)
                        .with_error_code(code)
                })
                .collect();
            results.push(
                AlterReplicaLogDirTopicResult::default()
                    .with_topic_name(t.name)
                    .with_partitions(partitions),
            );
        }
    }
    AlterReplicaLogDirsResponse::default().with_results(results)
}
