//! nf_tables and nfnetlink constants that neli does not define.
//!
//! Values from the kernel's uapi headers: `linux/netfilter/nf_tables.h`
//! (messages, attributes, expressions), `linux/netfilter/nfnetlink.h`
//! (batches, subsystems) and `linux/netfilter.h` (hooks, verdicts).
//! The userdata tags are libnftnl's (`include/libnftnl/udata.h`), which is
//! how `nft` stores what it prints back.

// nfnetlink.h
/// `NFNL_SUBSYS_NFTABLES`.
pub const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// `NFNL_MSG_BATCH_BEGIN` (= `NLMSG_MIN_TYPE`).
pub const NFNL_MSG_BATCH_BEGIN: u16 = 16;
/// `NFNL_MSG_BATCH_END`.
pub const NFNL_MSG_BATCH_END: u16 = 17;
/// `NFNETLINK_V0`.
pub const NFNETLINK_V0: u8 = 0;
/// `NFNL_BATCH_GENID`: be32 attribute of `BATCH_BEGIN`, the ruleset
/// generation the batch was planned against; the kernel refuses the batch
/// with `ERESTART` when the ruleset changed since.
pub const NFNL_BATCH_GENID: u16 = 1;

// linux/netfilter.h
/// `NFPROTO_UNSPEC`.
pub const NFPROTO_UNSPEC: u8 = 0;
/// `NFPROTO_INET`.
pub const NFPROTO_INET: u8 = 1;
/// `NF_DROP`.
pub const NF_DROP: i32 = 0;
/// `NF_ACCEPT`.
pub const NF_ACCEPT: i32 = 1;

// nf_tables.h: enum nf_tables_msg_types
/// `NFT_MSG_NEWTABLE`.
pub const NFT_MSG_NEWTABLE: u8 = 0;
/// `NFT_MSG_GETTABLE`.
pub const NFT_MSG_GETTABLE: u8 = 1;
/// `NFT_MSG_DELTABLE` (an error if missing: kernels before 6.3 have no destroy).
pub const NFT_MSG_DELTABLE: u8 = 2;
/// `NFT_MSG_NEWCHAIN`.
pub const NFT_MSG_NEWCHAIN: u8 = 3;
/// `NFT_MSG_GETCHAIN`.
pub const NFT_MSG_GETCHAIN: u8 = 4;
/// `NFT_MSG_DELCHAIN`.
pub const NFT_MSG_DELCHAIN: u8 = 5;
/// `NFT_MSG_NEWRULE`.
pub const NFT_MSG_NEWRULE: u8 = 6;
/// `NFT_MSG_GETRULE`.
pub const NFT_MSG_GETRULE: u8 = 7;
/// `NFT_MSG_DELRULE` (without a handle: flush the chain).
pub const NFT_MSG_DELRULE: u8 = 8;
/// `NFT_MSG_NEWSET`.
pub const NFT_MSG_NEWSET: u8 = 9;
/// `NFT_MSG_NEWSETELEM`.
pub const NFT_MSG_NEWSETELEM: u8 = 12;
/// `NFT_MSG_GETSETELEM`.
pub const NFT_MSG_GETSETELEM: u8 = 13;
/// `NFT_MSG_DELSETELEM`.
pub const NFT_MSG_DELSETELEM: u8 = 14;
/// `NFT_MSG_NEWGEN`: the reply to `GETGEN`.
pub const NFT_MSG_NEWGEN: u8 = 15;
/// `NFT_MSG_GETGEN`: the ruleset's generation id.
pub const NFT_MSG_GETGEN: u8 = 16;
/// `NFTA_GEN_ID`: be32, in `NEWGEN`.
pub const NFTA_GEN_ID: u16 = 1;
/// `NFT_MSG_DESTROYTABLE` (Linux 6.3: delete, no error if missing).
pub const NFT_MSG_DESTROYTABLE: u8 = 26;
/// `NFT_MSG_DESTROYCHAIN` (Linux 6.3).
pub const NFT_MSG_DESTROYCHAIN: u8 = 27;
/// `NFT_MSG_DESTROYSETELEM` (Linux 6.3).
pub const NFT_MSG_DESTROYSETELEM: u8 = 30;

// enum nft_registers
/// `NFT_REG_VERDICT`.
pub const NFT_REG_VERDICT: u32 = 0;
/// `NFT_REG_1`: the first 16-byte data register.
pub const NFT_REG_1: u32 = 1;
/// `NFT_REG32_00`: the first 4-byte data register (same storage as `NFT_REG_1`).
pub const NFT_REG32_00: u32 = 8;

// enum nft_verdicts
/// `NFT_JUMP`.
pub const NFT_JUMP: i32 = -3;

// enum nft_list_attributes
/// `NFTA_LIST_ELEM`.
pub const NFTA_LIST_ELEM: u16 = 1;

// enum nft_hook_attributes
/// `NFTA_HOOK_HOOKNUM`.
pub const NFTA_HOOK_HOOKNUM: u16 = 1;
/// `NFTA_HOOK_PRIORITY`.
pub const NFTA_HOOK_PRIORITY: u16 = 2;

// enum nft_table_attributes
/// `NFTA_TABLE_NAME`.
pub const NFTA_TABLE_NAME: u16 = 1;
/// `NFTA_TABLE_FLAGS`.
pub const NFTA_TABLE_FLAGS: u16 = 2;

// enum nft_chain_attributes
/// `NFTA_CHAIN_TABLE`.
pub const NFTA_CHAIN_TABLE: u16 = 1;
/// `NFTA_CHAIN_NAME`.
pub const NFTA_CHAIN_NAME: u16 = 3;
/// `NFTA_CHAIN_HOOK`.
pub const NFTA_CHAIN_HOOK: u16 = 4;
/// `NFTA_CHAIN_POLICY`.
pub const NFTA_CHAIN_POLICY: u16 = 5;
/// `NFTA_CHAIN_TYPE`.
pub const NFTA_CHAIN_TYPE: u16 = 7;

// enum nft_rule_attributes
/// `NFTA_RULE_TABLE`.
pub const NFTA_RULE_TABLE: u16 = 1;
/// `NFTA_RULE_CHAIN`.
pub const NFTA_RULE_CHAIN: u16 = 2;
/// `NFTA_RULE_EXPRESSIONS`.
pub const NFTA_RULE_EXPRESSIONS: u16 = 4;
/// `NFTA_RULE_USERDATA`.
pub const NFTA_RULE_USERDATA: u16 = 7;

// enum nft_set_flags
/// `NFT_SET_MAP`.
pub const NFT_SET_MAP: u32 = 0x8;

// enum nft_set_attributes
/// `NFTA_SET_TABLE`.
pub const NFTA_SET_TABLE: u16 = 1;
/// `NFTA_SET_NAME`.
pub const NFTA_SET_NAME: u16 = 2;
/// `NFTA_SET_FLAGS`.
pub const NFTA_SET_FLAGS: u16 = 3;
/// `NFTA_SET_KEY_TYPE`.
pub const NFTA_SET_KEY_TYPE: u16 = 4;
/// `NFTA_SET_KEY_LEN`.
pub const NFTA_SET_KEY_LEN: u16 = 5;
/// `NFTA_SET_DATA_TYPE`.
pub const NFTA_SET_DATA_TYPE: u16 = 6;
/// `NFTA_SET_DATA_LEN`.
pub const NFTA_SET_DATA_LEN: u16 = 7;
/// `NFTA_SET_ID`.
pub const NFTA_SET_ID: u16 = 10;
/// `NFTA_SET_USERDATA`.
pub const NFTA_SET_USERDATA: u16 = 13;

// enum nft_data_types
/// `NFT_DATA_VERDICT`.
pub const NFT_DATA_VERDICT: u32 = 0xffff_ff00;

// enum nft_set_elem_attributes
/// `NFTA_SET_ELEM_KEY`.
pub const NFTA_SET_ELEM_KEY: u16 = 1;
/// `NFTA_SET_ELEM_DATA`.
pub const NFTA_SET_ELEM_DATA: u16 = 2;

// enum nft_set_elem_list_attributes
/// `NFTA_SET_ELEM_LIST_TABLE`.
pub const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
/// `NFTA_SET_ELEM_LIST_SET`.
pub const NFTA_SET_ELEM_LIST_SET: u16 = 2;
/// `NFTA_SET_ELEM_LIST_ELEMENTS`.
pub const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
/// `NFTA_SET_ELEM_LIST_SET_ID`.
pub const NFTA_SET_ELEM_LIST_SET_ID: u16 = 4;

// enum nft_data_attributes
/// `NFTA_DATA_VALUE`.
pub const NFTA_DATA_VALUE: u16 = 1;
/// `NFTA_DATA_VERDICT`.
pub const NFTA_DATA_VERDICT: u16 = 2;

// enum nft_verdict_attributes
/// `NFTA_VERDICT_CODE`.
pub const NFTA_VERDICT_CODE: u16 = 1;
/// `NFTA_VERDICT_CHAIN`.
pub const NFTA_VERDICT_CHAIN: u16 = 2;

// enum nft_expr_attributes
/// `NFTA_EXPR_NAME`.
pub const NFTA_EXPR_NAME: u16 = 1;
/// `NFTA_EXPR_DATA`.
pub const NFTA_EXPR_DATA: u16 = 2;

// enum nft_immediate_attributes
/// `NFTA_IMMEDIATE_DREG`.
pub const NFTA_IMMEDIATE_DREG: u16 = 1;
/// `NFTA_IMMEDIATE_DATA`.
pub const NFTA_IMMEDIATE_DATA: u16 = 2;

// enum nft_bitwise_attributes
/// `NFTA_BITWISE_SREG`.
pub const NFTA_BITWISE_SREG: u16 = 1;
/// `NFTA_BITWISE_DREG`.
pub const NFTA_BITWISE_DREG: u16 = 2;
/// `NFTA_BITWISE_LEN`.
pub const NFTA_BITWISE_LEN: u16 = 3;
/// `NFTA_BITWISE_MASK`.
pub const NFTA_BITWISE_MASK: u16 = 4;
/// `NFTA_BITWISE_XOR`.
pub const NFTA_BITWISE_XOR: u16 = 5;

// enum nft_cmp_attributes / nft_cmp_ops
/// `NFTA_CMP_SREG`.
pub const NFTA_CMP_SREG: u16 = 1;
/// `NFTA_CMP_OP`.
pub const NFTA_CMP_OP: u16 = 2;
/// `NFTA_CMP_DATA`.
pub const NFTA_CMP_DATA: u16 = 3;
/// `NFT_CMP_EQ`.
pub const NFT_CMP_EQ: u32 = 0;
/// `NFT_CMP_NEQ`.
pub const NFT_CMP_NEQ: u32 = 1;

// enum nft_lookup_attributes
/// `NFTA_LOOKUP_SET`.
pub const NFTA_LOOKUP_SET: u16 = 1;
/// `NFTA_LOOKUP_SREG`.
pub const NFTA_LOOKUP_SREG: u16 = 2;
/// `NFTA_LOOKUP_DREG`.
pub const NFTA_LOOKUP_DREG: u16 = 3;
/// `NFTA_LOOKUP_SET_ID`.
pub const NFTA_LOOKUP_SET_ID: u16 = 4;

// enum nft_payload_attributes / nft_payload_bases
/// `NFTA_PAYLOAD_DREG`.
pub const NFTA_PAYLOAD_DREG: u16 = 1;
/// `NFTA_PAYLOAD_BASE`.
pub const NFTA_PAYLOAD_BASE: u16 = 2;
/// `NFTA_PAYLOAD_OFFSET`.
pub const NFTA_PAYLOAD_OFFSET: u16 = 3;
/// `NFTA_PAYLOAD_LEN`.
pub const NFTA_PAYLOAD_LEN: u16 = 4;
/// `NFT_PAYLOAD_NETWORK_HEADER`.
pub const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
/// `NFT_PAYLOAD_TRANSPORT_HEADER`.
pub const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;

// enum nft_meta_attributes / nft_meta_keys
/// `NFTA_META_DREG`.
pub const NFTA_META_DREG: u16 = 1;
/// `NFTA_META_KEY`.
pub const NFTA_META_KEY: u16 = 2;
/// `NFT_META_IIFNAME`.
pub const NFT_META_IIFNAME: u32 = 6;
/// `NFT_META_OIFNAME`.
pub const NFT_META_OIFNAME: u32 = 7;
/// `NFT_META_NFPROTO`.
pub const NFT_META_NFPROTO: u32 = 15;
/// `NFT_META_L4PROTO`.
pub const NFT_META_L4PROTO: u32 = 16;

// enum nft_ct_attributes / nft_ct_keys
/// `NFTA_CT_DREG`.
pub const NFTA_CT_DREG: u16 = 1;
/// `NFTA_CT_KEY`.
pub const NFTA_CT_KEY: u16 = 2;
/// `NFT_CT_STATE`.
pub const NFT_CT_STATE: u32 = 0;
/// `NFT_CT_STATUS`.
pub const NFT_CT_STATUS: u32 = 2;
/// `NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED)`
/// (`linux/netfilter/nf_conntrack_common.h`).
pub const CT_STATE_ESTABLISHED_RELATED: u32 = 0x6;
/// `IPS_DST_NAT` (`linux/netfilter/nf_conntrack_common.h`).
pub const IPS_DST_NAT: u32 = 0x20;

// enum nft_fib_attributes / nft_fib_result / nft_fib_flags
/// `NFTA_FIB_DREG`.
pub const NFTA_FIB_DREG: u16 = 1;
/// `NFTA_FIB_RESULT`.
pub const NFTA_FIB_RESULT: u16 = 2;
/// `NFTA_FIB_FLAGS`.
pub const NFTA_FIB_FLAGS: u16 = 3;
/// `NFT_FIB_RESULT_ADDRTYPE`.
pub const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;
/// `NFTA_FIB_F_SADDR`.
pub const NFTA_FIB_F_SADDR: u32 = 1;
/// `NFTA_FIB_F_DADDR`.
pub const NFTA_FIB_F_DADDR: u32 = 2;
/// `RTN_LOCAL` (`linux/rtnetlink.h`): the address type `fib ... type local` compares with.
pub const RTN_LOCAL: u32 = 2;

// enum nft_nat_attributes / nft_nat_types
/// `NFTA_NAT_TYPE`.
pub const NFTA_NAT_TYPE: u16 = 1;
/// `NFTA_NAT_FAMILY`.
pub const NFTA_NAT_FAMILY: u16 = 2;
/// `NFTA_NAT_REG_ADDR_MIN`.
pub const NFTA_NAT_REG_ADDR_MIN: u16 = 3;
/// `NFTA_NAT_REG_PROTO_MIN`.
pub const NFTA_NAT_REG_PROTO_MIN: u16 = 5;
/// `NFT_NAT_SNAT`.
pub const NFT_NAT_SNAT: u32 = 0;
/// `NFT_NAT_DNAT`.
pub const NFT_NAT_DNAT: u32 = 1;

// libnftnl udata.h: rule and set userdata tags (type, length, value).
/// `NFTNL_UDATA_RULE_COMMENT`.
pub const NFTNL_UDATA_RULE_COMMENT: u8 = 0;
/// `NFTNL_UDATA_SET_KEYBYTEORDER`.
pub const NFTNL_UDATA_SET_KEYBYTEORDER: u8 = 0;
/// `NFTNL_UDATA_SET_DATABYTEORDER`.
pub const NFTNL_UDATA_SET_DATABYTEORDER: u8 = 1;
/// `NFTNL_UDATA_SET_KEY_TYPEOF`.
pub const NFTNL_UDATA_SET_KEY_TYPEOF: u8 = 3;
/// `NFTNL_UDATA_SET_DATA_TYPEOF`.
pub const NFTNL_UDATA_SET_DATA_TYPEOF: u8 = 4;
/// `NFTNL_UDATA_SET_DATA_INTERVAL`.
pub const NFTNL_UDATA_SET_DATA_INTERVAL: u8 = 6;
