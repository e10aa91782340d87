//! Models and rules of the gateway. No I/O lives here.
#![forbid(unsafe_code)]

pub mod account_numbers;
pub mod accounts;
pub mod action_spacing;
pub mod business_phone;
pub mod checks;
pub mod events;
pub mod number_result;
pub mod phone;
pub mod provider_error;
pub mod provider_id;
pub mod timestamp;
pub mod vendor_time;

pub use account_numbers::{account_digits, vendor_number};
pub use accounts::{
    AccountCredentials, AccountKeys, AccountMove, AccountState, AccountStatus, AccountType,
    ActionReport, ActionStatus, ChatActionRequest, ChatPlatform, Contact, IllegalMove, LoginCodes,
    OnlineStatus, PairCodeMode, PairTarget, PortDetail, PortQuota, PortStatus, PortType, Profile,
    ProfileChannel, RegistrationRequest, ScanAllocation, SessionMove, SessionReport, SessionState,
    VerificationType, check_account_move, check_cloud_port_online, plus_number,
};
pub use action_spacing::AgentSpacing;
pub use business_phone::{
    BusinessPhone, BusinessPhoneStatus, CodeVerificationStatus, MessagingLimit, NameStatus,
    QualityRating,
};
pub use checks::{Check, CheckSet};
pub use events::{DomainEvent, Event, EventType, Subject, SubjectKind};
pub use number_result::{CheckOutcome, CheckStatus, Gender, NumberResult, parse_vendor_bool};
pub use phone::{
    BatchInputs, DefaultCountry, E164, InvalidNumber, InvalidReason, NormalizedBatch, NumberList,
    mask, normalize, normalize_batch, normalize_with, split_by_country,
};
pub use provider_error::{ProviderError, ProviderErrorKind};
pub use provider_id::{InvalidProviderId, ProviderId};
pub use vendor_time::{
    TimeParseError, UtcOffset, is_unset_vendor_time, local_to_utc, parse_compact_date,
    parse_iso_date, parse_vendor_date, parse_vendor_datetime,
};
