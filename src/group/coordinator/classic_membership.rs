//! The classic group protocol's membership: JoinGroup, SyncGroup, Heartbeat and LeaveGroup,
//! the rebalances they drive, and the deadlines (sessions, rebalance and sync timeouts, the
//! initial delay) that the ticker applies.

use super::*;

impl GroupCoordinator {
    // ---- deadlines --------------------------------------------------------------------------

    /// Applies every deadline that has passed by `now`.
    pub fn tick(&self, now: Instant) {
        for group in self.all_groups() {
            let mut group = group.lock();
            self.tick_group(&mut group, now);
        }
    }

    fn tick_group(&self, group: &mut GroupMetadata, now: Instant) {
        if group.is(GroupState::Dead) {
            return;
        }
        if group.consumer.is_some() {
            self.tick_consumer_group(group, now);
            return;
        }
        for member_id in group.expired_pending_members(now) {
            tracing::info!(group = %group.group_id, member = %member_id, "pending member removed after its session timeout");
            self.remove_pending_member_and_update_group(group, &member_id, now);
        }
        let expired: Vec<String> = group
            .members()
            .filter(|m| now >= m.heartbeat_deadline && !m.keeps_alive_past_deadline())
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in expired {
            // An earlier removal may have completed a rebalance that renewed this deadline.
            if !group
                .get(&member_id)
                .is_some_and(|m| now >= m.heartbeat_deadline && !m.keeps_alive_past_deadline())
            {
                continue;
            }
            tracing::info!(group = %group.group_id, member = %member_id, "member failed to heartbeat within its session timeout; removing it from the group");
            self.remove_member_and_update_group(group, &member_id, now);
        }
        if let Some((at, phase)) = group.join_deadline
            && now >= at
            && group.is(GroupState::PreparingRebalance)
        {
            match phase {
                JoinPhase::Initial { delay_ms, remaining_ms } if group.new_member_added && remaining_ms != 0 => {
                    group.new_member_added = false;
                    let delay = self.config.initial_rebalance_delay_ms.min(remaining_ms);
                    let remaining = remaining_ms.saturating_sub(delay_ms);
                    group.join_deadline = Some((
                        now + Duration::from_millis(delay),
                        JoinPhase::Initial {
                            delay_ms: delay,
                            remaining_ms: remaining,
                        },
                    ));
                }
                _ => self.complete_join(group, now),
            }
        }
        if let Some(at) = group.sync_deadline
            && now >= at
        {
            group.sync_deadline = None;
            let pending = group.pending_sync_members();
            if matches!(group.state(), GroupState::CompletingRebalance | GroupState::Stable) && !pending.is_empty() {
                tracing::info!(group = %group.group_id, members = ?pending, "removing members that did not send SyncGroup within the rebalance timeout");
                for member_id in &pending {
                    group.remove(member_id);
                }
                self.prepare_rebalance(group, now);
            }
        }
    }

    // ---- rebalancing ------------------------------------------------------------------------

    fn maybe_prepare_rebalance(&self, group: &mut GroupMetadata, now: Instant) {
        if group.can_rebalance() {
            self.prepare_rebalance(group, now);
        }
    }

    fn prepare_rebalance(&self, group: &mut GroupMetadata, now: Instant) {
        if group.is(GroupState::CompletingRebalance) {
            reset_and_propagate_assignment_error(group, errors::REBALANCE_IN_PROGRESS);
        }
        group.sync_deadline = None;
        let was_empty = group.is(GroupState::Empty);
        if !group.transition_to(GroupState::PreparingRebalance, now_ms()) {
            return;
        }
        tracing::info!(group = %group.group_id, generation = group.generation_id, members = group.size(), "preparing to rebalance group");
        let rebalance_timeout = group.rebalance_timeout_ms();
        if was_empty {
            let delay = self.config.initial_rebalance_delay_ms;
            if delay == 0 {
                self.complete_join(group, now);
            } else {
                let remaining_ms = rebalance_timeout.saturating_sub(delay);
                group.join_deadline = Some((
                    now + Duration::from_millis(delay),
                    JoinPhase::Initial {
                        delay_ms: delay,
                        remaining_ms,
                    },
                ));
            }
        } else {
            group.join_deadline = Some((now + Duration::from_millis(rebalance_timeout), JoinPhase::Normal));
            self.try_complete_join(group, now);
        }
    }

    /// Completes the join barrier if every member has rejoined (not during an initial delay).
    fn try_complete_join(&self, group: &mut GroupMetadata, now: Instant) {
        if group.is(GroupState::PreparingRebalance)
            && matches!(group.join_deadline, Some((_, JoinPhase::Normal)))
            && group.has_all_members_joined()
        {
            self.complete_join(group, now);
        }
    }

    /// Kafka's `onCompleteJoin`: drop dynamic members that did not rejoin, start the next
    /// generation and answer every waiting JoinGroup.
    fn complete_join(&self, group: &mut GroupMetadata, now: Instant) {
        let dropped: Vec<String> = group
            .not_yet_rejoined()
            .into_iter()
            .filter(|id| group.get(id).is_some_and(|m| !m.is_static()))
            .collect();
        if !dropped.is_empty() {
            tracing::info!(group = %group.group_id, members = ?dropped, "removed members that did not rejoin within the rebalance timeout");
            for id in &dropped {
                group.remove(id);
            }
        }
        if group.is(GroupState::Dead) {
            return;
        }
        if !group.maybe_elect_new_joined_leader() && !group.is_empty() {
            // Nobody rejoined: wait another rebalance timeout for sessions to expire.
            tracing::warn!(group = %group.group_id, "could not complete rebalance because no members rejoined");
            group.join_deadline = Some((
                now + Duration::from_millis(group.rebalance_timeout_ms()),
                JoinPhase::Normal,
            ));
            return;
        }
        group.join_deadline = None;
        group.new_member_added = false;
        group.init_next_generation(now_ms());
        if group.is(GroupState::Empty) {
            tracing::info!(group = %group.group_id, generation = group.generation_id, "group is now empty");
            if let Err(code) = self.store_group(group, None) {
                tracing::warn!(group = %group.group_id, code, "cannot write the empty group's metadata");
            }
            return;
        }
        tracing::info!(
            group = %group.group_id,
            generation = group.generation_id,
            members = group.size(),
            protocol = group.protocol_name.as_deref().unwrap_or_default(),
            "stabilized group"
        );
        let ids: Vec<String> = group.members().map(|m| m.member_id.clone()).collect();
        for id in ids {
            let result = group.join_result_for(&id, group.is_leader(&id));
            group.maybe_invoke_join_callback(&id, result);
            if let Some(m) = group.get_mut(&id) {
                m.refresh_heartbeat(now);
                m.is_new = false;
            }
            group.add_pending_sync(id);
        }
        group.sync_deadline = Some(now + Duration::from_millis(group.rebalance_timeout_ms()));
    }

    /// Removes a member (answering a JoinGroup it may be waiting on) and lets the group react.
    fn remove_member_and_update_group(&self, group: &mut GroupMetadata, member_id: &str, now: Instant) {
        group.maybe_invoke_join_callback(member_id, JoinResult::error("", errors::UNKNOWN_MEMBER_ID));
        group.remove(member_id);
        match group.state() {
            GroupState::Dead | GroupState::Empty => {}
            GroupState::Stable | GroupState::CompletingRebalance => self.maybe_prepare_rebalance(group, now),
            GroupState::PreparingRebalance => self.try_complete_join(group, now),
        }
    }

    fn remove_pending_member_and_update_group(&self, group: &mut GroupMetadata, member_id: &str, now: Instant) {
        group.remove_pending_member(member_id);
        if group.is(GroupState::PreparingRebalance) {
            self.try_complete_join(group, now);
        }
    }

    fn accept_joining_member(&self, group: &GroupMetadata, member_id: &str) -> bool {
        let max = self.config.max_size;
        match group.state() {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                group.get(member_id).is_some_and(|m| m.is_awaiting_join()) || group.num_awaiting_join() < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => group.has(member_id) || group.size() < max,
        }
    }

    // ---- JoinGroup --------------------------------------------------------------------------

    pub fn join_group(&self, req: JoinRequest) -> Pending<JoinResult> {
        if !valid_group_id(&req.group_id) {
            return Pending::Ready(JoinResult::error(req.member_id, errors::INVALID_GROUP_ID));
        }
        if !self.is_active() {
            return Pending::Ready(JoinResult::error(req.member_id, errors::COORDINATOR_NOT_AVAILABLE));
        }
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return Pending::Ready(JoinResult::error(req.member_id, errors::INVALID_SESSION_TIMEOUT));
        }
        let is_unknown = req.member_id.is_empty();
        let group = if is_unknown {
            self.get_or_create(&req.group_id)
        } else {
            match self.get(&req.group_id) {
                Some(g) => g,
                None => return Pending::Ready(JoinResult::error(req.member_id, errors::UNKNOWN_MEMBER_ID)),
            }
        };
        let (tx, rx) = oneshot::channel();
        {
            let mut group = group.lock();
            let now = Instant::now();
            if !self.is_active() {
                let _ = tx.send(JoinResult::error(
                    req.member_id.clone(),
                    errors::COORDINATOR_NOT_AVAILABLE,
                ));
            } else if let Some(code) = self.classic_join_of_consumer_group(&mut group) {
                let _ = tx.send(JoinResult::error(req.member_id.clone(), code));
            } else if !self.accept_joining_member(&group, &req.member_id) {
                tracing::info!(group = %group.group_id, max = self.config.max_size, "group is full; join refused");
                group.remove(&req.member_id);
                let _ = tx.send(JoinResult::error("", errors::GROUP_MAX_SIZE_REACHED));
            } else if is_unknown {
                self.do_new_member_join(&mut group, &req, tx, now);
            } else {
                self.do_current_member_join(&mut group, &req, tx, now);
            }
            if group.is(GroupState::PreparingRebalance) {
                self.try_complete_join(&mut group, now);
            }
        }
        Pending::settle(rx, || JoinResult::error("", errors::COORDINATOR_NOT_AVAILABLE))
    }

    fn do_new_member_join(
        &self,
        group: &mut GroupMetadata,
        req: &JoinRequest,
        tx: oneshot::Sender<JoinResult>,
        now: Instant,
    ) {
        let names: Vec<&str> = req.protocols.iter().map(|(n, _)| n.as_str()).collect();
        if group.is(GroupState::Dead) {
            let _ = tx.send(JoinResult::error("", errors::COORDINATOR_NOT_AVAILABLE));
            return;
        }
        if !group.supports_protocols(&req.protocol_type, &names) {
            let _ = tx.send(JoinResult::error("", errors::INCONSISTENT_GROUP_PROTOCOL));
            return;
        }
        let prefix = req.group_instance_id.as_deref().unwrap_or(&req.client_id);
        let new_id = format!("{prefix}-{}", uuid::Uuid::new_v4());
        match &req.group_instance_id {
            Some(instance) => match group.current_static_member_id(instance).map(str::to_string) {
                Some(old_id) => {
                    self.update_static_member_and_rebalance(group, instance, &old_id, &new_id, req, tx, now)
                }
                None => self.add_member_and_rebalance(group, new_id, req, tx, now),
            },
            None if req.require_known_member_id => {
                let expires = now + Duration::from_millis(req.session_timeout_ms.max(0) as u64);
                group.add_pending_member(new_id.clone(), expires);
                let _ = tx.send(JoinResult::error(new_id, errors::MEMBER_ID_REQUIRED));
            }
            None => self.add_member_and_rebalance(group, new_id, req, tx, now),
        }
    }

    fn do_current_member_join(
        &self,
        group: &mut GroupMetadata,
        req: &JoinRequest,
        tx: oneshot::Sender<JoinResult>,
        now: Instant,
    ) {
        let member_id = req.member_id.as_str();
        let names: Vec<&str> = req.protocols.iter().map(|(n, _)| n.as_str()).collect();
        if group.is(GroupState::Dead) {
            let _ = tx.send(JoinResult::error(member_id, errors::COORDINATOR_NOT_AVAILABLE));
            return;
        }
        if !group.supports_protocols(&req.protocol_type, &names) {
            let _ = tx.send(JoinResult::error(member_id, errors::INCONSISTENT_GROUP_PROTOCOL));
            return;
        }
        if group.is_pending_member(member_id) {
            if req.group_instance_id.is_some() {
                // Pending members are dynamic: a static id here is a client bug.
                let _ = tx.send(JoinResult::error(member_id, errors::UNKNOWN_MEMBER_ID));
                return;
            }
            self.add_member_and_rebalance(group, member_id.to_string(), req, tx, now);
            return;
        }
        let instance = req.group_instance_id.as_deref();
        if group.is_static_member_fenced(instance, member_id) {
            let _ = tx.send(JoinResult::error(member_id, errors::FENCED_INSTANCE_ID));
            return;
        }
        if !group.has(member_id) || instance.is_some_and(|i| !group.has_static_member(i)) {
            let _ = tx.send(JoinResult::error(member_id, errors::UNKNOWN_MEMBER_ID));
            return;
        }
        let matches = group.get(member_id).is_some_and(|m| m.matches(&req.protocols));
        match group.state() {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(group, req, tx, now),
            GroupState::CompletingRebalance if matches => {
                // The member may have missed the JoinGroup reply: answer it again.
                let result = group.join_result_for(member_id, group.is_leader(member_id));
                let _ = tx.send(result);
            }
            GroupState::CompletingRebalance => self.update_member_and_rebalance(group, req, tx, now),
            GroupState::Stable if group.is_leader(member_id) || !matches => {
                // A rejoining leader forces a rebalance (it may have seen metadata change).
                self.update_member_and_rebalance(group, req, tx, now)
            }
            GroupState::Stable => {
                let result = group.join_result_for(member_id, false);
                let _ = tx.send(result);
            }
            GroupState::Empty | GroupState::Dead => {
                let _ = tx.send(JoinResult::error(member_id, errors::UNKNOWN_MEMBER_ID));
            }
        }
    }

    fn update_member_and_rebalance(
        &self,
        group: &mut GroupMetadata,
        req: &JoinRequest,
        tx: oneshot::Sender<JoinResult>,
        now: Instant,
    ) {
        group.update_member(
            &req.member_id,
            req.protocols.clone(),
            req.rebalance_timeout_ms,
            req.session_timeout_ms,
            Some(tx),
        );
        self.maybe_prepare_rebalance(group, now);
    }

    fn add_member_and_rebalance(
        &self,
        group: &mut GroupMetadata,
        member_id: String,
        req: &JoinRequest,
        tx: oneshot::Sender<JoinResult>,
        now: Instant,
    ) {
        let member = MemberMetadata {
            member_id,
            group_instance_id: req.group_instance_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            session_timeout_ms: req.session_timeout_ms,
            protocol_type: req.protocol_type.clone(),
            protocols: req.protocols.clone(),
            assignment: Bytes::new(),
            awaiting_join: None,
            awaiting_sync: None,
            is_new: true,
            heartbeat_deadline: now + NEW_MEMBER_JOIN_TIMEOUT,
        };
        if group.is(GroupState::PreparingRebalance) && group.generation_id == 0 {
            group.new_member_added = true;
        }
        tracing::debug!(group = %group.group_id, member = %member.member_id, "member joins");
        group.add(member, Some(tx));
        self.maybe_prepare_rebalance(group, now);
    }

    #[allow(clippy::too_many_arguments)]
    fn update_static_member_and_rebalance(
        &self,
        group: &mut GroupMetadata,
        instance: &str,
        old_id: &str,
        new_id: &str,
        req: &JoinRequest,
        tx: oneshot::Sender<JoinResult>,
        now: Instant,
    ) {
        let current_leader = group.leader_id.clone().unwrap_or_default();
        let Some(old) = group.get(old_id) else {
            let _ = tx.send(JoinResult::error("", errors::UNKNOWN_MEMBER_ID));
            return;
        };
        let old_protocols = old.protocols.clone();
        let old_rebalance_timeout = old.rebalance_timeout_ms;
        let old_session_timeout = old.session_timeout_ms;
        group.replace_static_member(instance, old_id, new_id, errors::FENCED_INSTANCE_ID);
        if let Some(m) = group.get_mut(new_id) {
            m.refresh_heartbeat(now);
            m.client_id = req.client_id.clone();
            m.client_host = req.client_host.clone();
        }
        group.update_member(
            new_id,
            req.protocols.clone(),
            req.rebalance_timeout_ms,
            req.session_timeout_ms,
            Some(tx),
        );
        match group.state() {
            GroupState::Stable => {
                if group.select_protocol() != group.protocol_name {
                    tracing::info!(group = %group.group_id, instance, "static member rejoined with protocols that change the group's selection; rebalancing");
                    self.maybe_prepare_rebalance(group, now);
                    return;
                }
                tracing::info!(group = %group.group_id, instance, member = new_id, "static member rejoined; keeping its assignment without a rebalance");
                match self.store_group(group, None) {
                    Ok(durable) => {
                        let is_leader = group.is_leader(new_id);
                        let mut result = if req.supports_skip_assignment {
                            let mut r = group.join_result_for(new_id, is_leader);
                            r.skip_assignment = is_leader;
                            r
                        } else {
                            // The old leader id keeps the member from assigning as a leader.
                            let mut r = group.join_result_for(new_id, false);
                            r.leader_id = current_leader;
                            r
                        };
                        result.durable = Some(durable);
                        group.maybe_invoke_join_callback(new_id, result);
                    }
                    Err(code) => {
                        // Not persisted: put the old member back.
                        let cb = group.get_mut(new_id).and_then(|m| m.awaiting_join.take());
                        group.update_member(new_id, old_protocols, old_rebalance_timeout, old_session_timeout, None);
                        group.replace_static_member(instance, new_id, old_id, errors::FENCED_INSTANCE_ID);
                        if let Some(m) = group.get_mut(old_id) {
                            m.refresh_heartbeat(now);
                        }
                        if let Some(cb) = cb {
                            let mut r = JoinResult::error("", code);
                            r.generation_id = group.generation_id;
                            r.protocol_type = group.protocol_type.clone();
                            r.protocol_name = group.protocol_name.clone();
                            r.leader_id = current_leader;
                            let _ = cb.send(r);
                        }
                    }
                }
            }
            GroupState::CompletingRebalance => {
                // The leader may already be assigning to the old member id: rebalance again.
                self.prepare_rebalance(group, now);
            }
            GroupState::PreparingRebalance => {}
            GroupState::Empty | GroupState::Dead => {
                group.maybe_invoke_join_callback(new_id, JoinResult::error(new_id, errors::UNKNOWN_MEMBER_ID));
            }
        }
    }

    // ---- SyncGroup --------------------------------------------------------------------------

    pub fn sync_group(&self, req: SyncRequest) -> Pending<SyncResult> {
        if !valid_group_id(&req.group_id) {
            return Pending::Ready(SyncResult::error(errors::INVALID_GROUP_ID));
        }
        if !self.is_active() {
            return Pending::Ready(SyncResult::error(errors::COORDINATOR_NOT_AVAILABLE));
        }
        let Some(group) = self.get(&req.group_id) else {
            return Pending::Ready(SyncResult::error(errors::UNKNOWN_MEMBER_ID));
        };
        let mut group = group.lock();
        let now = Instant::now();
        if !self.is_active() {
            return Pending::Ready(SyncResult::error(errors::COORDINATOR_NOT_AVAILABLE));
        }
        if let Some(code) = validate_sync(&group, &req) {
            return Pending::Ready(SyncResult::error(code));
        }
        match group.state() {
            GroupState::Empty => Pending::Ready(SyncResult::error(errors::UNKNOWN_MEMBER_ID)),
            GroupState::PreparingRebalance => Pending::Ready(SyncResult::error(errors::REBALANCE_IN_PROGRESS)),
            GroupState::Stable => {
                group.remove_pending_sync(&req.member_id);
                let result = match group.get_mut(&req.member_id) {
                    Some(m) => {
                        m.refresh_heartbeat(now);
                        m.assignment.clone()
                    }
                    None => Bytes::new(),
                };
                Pending::Ready(SyncResult {
                    error: errors::NONE,
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol_name.clone(),
                    assignment: result,
                    durable: None,
                })
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = group.get_mut(&req.member_id) {
                    m.awaiting_sync = Some(tx);
                }
                group.remove_pending_sync(&req.member_id);
                if group.is_leader(&req.member_id) {
                    self.complete_sync(&mut group, &req, now);
                }
                Pending::settle(rx, || SyncResult::error(errors::REBALANCE_IN_PROGRESS))
            }
            GroupState::Dead => Pending::Ready(SyncResult::error(errors::COORDINATOR_NOT_AVAILABLE)),
        }
    }

    /// The leader's assignment: persist it, make the group Stable and answer every member
    /// waiting in SyncGroup (their replies wait for the write to be durable).
    fn complete_sync(&self, group: &mut GroupMetadata, req: &SyncRequest, now: Instant) {
        let mut assignment: HashMap<String, Bytes> = req
            .assignments
            .iter()
            .filter(|(id, _)| group.has(id))
            .map(|(id, a)| (id.clone(), a.clone()))
            .collect();
        let missing: Vec<String> = group
            .members()
            .map(|m| m.member_id.clone())
            .filter(|id| !assignment.contains_key(id))
            .collect();
        if !missing.is_empty() {
            tracing::warn!(group = %group.group_id, generation = group.generation_id, members = ?missing, "setting empty assignments for members the leader left out");
        }
        for id in missing {
            assignment.insert(id, Bytes::new());
        }
        tracing::info!(group = %group.group_id, generation = group.generation_id, leader = %req.member_id, members = group.size(), "assignment received from leader");
        match self.store_group(group, Some(&assignment)) {
            Ok(durable) => {
                let protocol_type = group.protocol_type.clone();
                let protocol_name = group.protocol_name.clone();
                for m in group.members_mut() {
                    m.assignment = assignment.remove(&m.member_id).unwrap_or_default();
                    m.refresh_heartbeat(now);
                    if let Some(cb) = m.awaiting_sync.take() {
                        let _ = cb.send(SyncResult {
                            error: errors::NONE,
                            protocol_type: protocol_type.clone(),
                            protocol_name: protocol_name.clone(),
                            assignment: m.assignment.clone(),
                            durable: Some(durable.clone()),
                        });
                    }
                }
                group.transition_to(GroupState::Stable, now_ms());
            }
            Err(code) => {
                reset_and_propagate_assignment_error(group, code);
                self.maybe_prepare_rebalance(group, now);
            }
        }
    }

    // ---- Heartbeat and LeaveGroup -----------------------------------------------------------

    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> i16 {
        if !valid_group_id(group_id) {
            return errors::INVALID_GROUP_ID;
        }
        if !self.is_active() {
            return errors::COORDINATOR_NOT_AVAILABLE;
        }
        let Some(group) = self.get(group_id) else {
            return errors::UNKNOWN_MEMBER_ID;
        };
        let mut group = group.lock();
        if group.is(GroupState::Dead) {
            return errors::COORDINATOR_NOT_AVAILABLE;
        }
        if let Some(code) = validate_current_member(&group, member_id, group_instance_id) {
            return code;
        }
        if generation_id != group.generation_id {
            return errors::ILLEGAL_GENERATION;
        }
        let state = group.state();
        if state == GroupState::Empty {
            return errors::UNKNOWN_MEMBER_ID;
        }
        if let Some(m) = group.get_mut(member_id) {
            m.refresh_heartbeat(Instant::now());
        }
        match state {
            GroupState::PreparingRebalance => errors::REBALANCE_IN_PROGRESS,
            _ => errors::NONE,
        }
    }

    /// Per-member errors, or the error of the whole request.
    pub fn leave_group(&self, group_id: &str, leaving: &[LeavingMember]) -> Result<Vec<i16>, i16> {
        if !valid_group_id(group_id) {
            return Err(errors::INVALID_GROUP_ID);
        }
        if !self.is_active() {
            return Err(errors::COORDINATOR_NOT_AVAILABLE);
        }
        let Some(group) = self.get(group_id) else {
            return Ok(vec![errors::UNKNOWN_MEMBER_ID; leaving.len()]);
        };
        let mut group = group.lock();
        if group.is(GroupState::Dead) {
            return Err(errors::COORDINATOR_NOT_AVAILABLE);
        }
        let now = Instant::now();
        let mut out = Vec::with_capacity(leaving.len());
        for member in leaving {
            let instance = member.group_instance_id.as_deref();
            let code = if member.member_id.is_empty() {
                // Administrative removal by group.instance.id.
                match instance
                    .and_then(|i| group.current_static_member_id(i))
                    .map(str::to_string)
                {
                    Some(current) => {
                        tracing::info!(group = %group.group_id, member = %current, "static member removed by LeaveGroup");
                        self.remove_member_and_update_group(&mut group, &current, now);
                        errors::NONE
                    }
                    None => errors::UNKNOWN_MEMBER_ID,
                }
            } else if group.is_pending_member(&member.member_id) {
                self.remove_pending_member_and_update_group(&mut group, &member.member_id, now);
                errors::NONE
            } else {
                match validate_current_member(&group, &member.member_id, instance) {
                    Some(code) => code,
                    None => {
                        tracing::info!(group = %group.group_id, member = %member.member_id, "member left the group");
                        self.remove_member_and_update_group(&mut group, &member.member_id, now);
                        errors::NONE
                    }
                }
            };
            out.push(code);
        }
        Ok(out)
    }
}

fn reset_and_propagate_assignment_error(group: &mut GroupMetadata, code: i16) {
    for m in group.members_mut() {
        m.assignment = Bytes::new();
        if let Some(cb) = m.awaiting_sync.take() {
            let _ = cb.send(SyncResult::error(code));
        }
    }
}

/// FENCED_INSTANCE_ID when the instance id now belongs to another member id, UNKNOWN_MEMBER_ID
/// when the member is not in the group.
pub(super) fn validate_current_member(group: &GroupMetadata, member_id: &str, instance: Option<&str>) -> Option<i16> {
    if group.is_static_member_fenced(instance, member_id) {
        Some(errors::FENCED_INSTANCE_ID)
    } else if !group.has(member_id) {
        Some(errors::UNKNOWN_MEMBER_ID)
    } else {
        None
    }
}

fn validate_sync(group: &GroupMetadata, req: &SyncRequest) -> Option<i16> {
    if group.is(GroupState::Dead) {
        return Some(errors::COORDINATOR_NOT_AVAILABLE);
    }
    if let Some(code) = validate_current_member(group, &req.member_id, req.group_instance_id.as_deref()) {
        return Some(code);
    }
    if req.generation_id != group.generation_id {
        return Some(errors::ILLEGAL_GENERATION);
    }
    let mismatch =
        |given: &Option<String>, ours: &Option<String>| given.as_ref().is_some_and(|g| Some(g) != ours.as_ref());
    if mismatch(&req.protocol_type, &group.protocol_type) || mismatch(&req.protocol_name, &group.protocol_name) {
        return Some(errors::INCONSISTENT_GROUP_PROTOCOL);
    }
    None
}
