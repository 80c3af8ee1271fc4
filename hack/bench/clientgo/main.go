// Command clientgo is the client-go peer of hack/bench/informer_sync.py: it times an informer's
// initial sync of the Deployments in one namespace, typed (a SharedInformerFactory informer, what
// controller-runtime uses) or dynamic (unstructured), with the transform irc applies by default
// (managedFields and kubectl's last-applied annotation dropped), and prints one JSON line.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// strip is irc's default transform (irc.runtime.informer.strip_managed_fields).
func strip(obj interface{}) (interface{}, error) {
	if accessor, err := metaAccessor(obj); err == nil {
		accessor.SetManagedFields(nil)
		if annotations := accessor.GetAnnotations(); annotations != nil {
			if _, ok := annotations[lastApplied]; ok {
				delete(annotations, lastApplied)
				accessor.SetAnnotations(annotations)
			}
		}
	}
	return obj, nil
}

func metaAccessor(obj interface{}) (metav1.Object, error) {
	if o, ok := obj.(metav1.Object); ok {
		return o, nil
	}
	return nil, fmt.Errorf("%T has no metadata", obj)
}

// kib reads a field of /proc/self/status in KiB (VmRSS, VmHWM).
func kib(field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field+":") {
			parts := strings.Fields(line)
			n, _ := strconv.ParseInt(parts[1], 10, 64)
			return n
		}
	}
	return 0
}

func cpuSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return float64(usage.Utime.Nano()+usage.Stime.Nano()) / 1e9
}

func settle() int64 {
	runtime.GC()
	debug.FreeOSMemory()
	return kib("VmRSS")
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "path to the kubeconfig")
	namespace := flag.String("namespace", "bench", "the Deployments' namespace")
	mode := flag.String("mode", "typed", "typed or dynamic")
	flag.Parse()

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail(err)
	}
	config.QPS, config.Burst = -1, 1000 // no client-side throttling, as irc's bench client
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var informer cache.SharedIndexInformer
	var start func()
	switch *mode {
	case "typed":
		clientset, err := kubernetes.NewForConfig(config)
		if err != nil {
			fail(err)
		}
		// Connected and the namespace read before timing, as the Python side does.
		if _, err := clientset.CoreV1().Namespaces().Get(ctx, *namespace, metav1.GetOptions{}); err != nil {
			fail(err)
		}
		factory := informers.NewSharedInformerFactoryWithOptions(
			clientset, 0, informers.WithNamespace(*namespace), informers.WithTransform(strip))
		informer = factory.Apps().V1().Deployments().Informer()
		start = func() { factory.Start(ctx.Done()) }
	case "dynamic":
		client, err := dynamic.NewForConfig(config)
		if err != nil {
			fail(err)
		}
		namespaces := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
		if _, err := client.Resource(namespaces).Get(ctx, *namespace, metav1.GetOptions{}); err != nil {
			fail(err)
		}
		factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(client, 0, *namespace, nil)
		deployments := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
		informer = factory.ForResource(deployments).Informer()
		if err := informer.SetTransform(strip); err != nil {
			fail(err)
		}
		start = func() { factory.Start(ctx.Done()) }
	default:
		fail(fmt.Errorf("unknown mode %q", *mode))
	}

	before := settle()
	cpu, wall := cpuSeconds(), time.Now()
	start()
	// Polled every millisecond: cache.WaitForCacheSync polls every 100 ms, too coarse for a sync of
	// under a second.
	deadline := time.Now().Add(10 * time.Minute)
	for !informer.HasSynced() {
		if time.Now().After(deadline) {
			fail(fmt.Errorf("the informer did not sync"))
		}
		time.Sleep(time.Millisecond)
	}
	elapsed, used := time.Since(wall).Seconds(), cpuSeconds()-cpu
	after := settle()
	out, _ := json.Marshal(map[string]interface{}{
		"mode":           *mode,
		"objects":        len(informer.GetStore().List()),
		"sync_seconds":   elapsed,
		"cpu_seconds":    used,
		"rss_before_kib": before,
		"rss_after_kib":  after,
		"peak_kib":       kib("VmHWM"),
	})
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "clientgo:", err)
	os.Exit(1)
}
